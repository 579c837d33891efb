"""The fine-tunable base models we know: token limits, prices and lifecycle dates.

Defaults live here; a JSON file can override or extend them without a code change.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.dataset.tokens import base_model_of

# OpenAI's self-serve fine-tuning stops taking new jobs from every organisation on this day.
OPENAI_TRAINING_CLOSES = date(2027, 1, 6)

# Shutdown dates from OpenAI's deprecations page (announced 2026-04-22 and 2026-10-14).
_RETIRES_2026_10_23 = date(2026, 10, 23)
_RETIRES_2027_01_14 = date(2027, 1, 14)

TRAINING_WARNING_DAYS = 60
RETIREMENT_WARNING_DAYS = 90

# A trailing snapshot date: "-2025-04-14" (current style) or "-0125" (gpt-3.5 style).
_SNAPSHOT_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{4})$")


class ModelInfo(BaseModel):
    """What we need to know about one base model to check and price a dataset."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    encoding: Literal["o200k_base", "cl100k_base"]
    max_tokens_per_example: int = Field(gt=0)
    training_price_per_million: float | None = Field(default=None, ge=0)
    # USD per million tokens of chat, for the swap gate's estimate: the base model, and a
    # model fine-tuned from it.
    input_price_per_million: float | None = Field(default=None, ge=0)
    output_price_per_million: float | None = Field(default=None, ge=0)
    tuned_input_price_per_million: float | None = Field(default=None, ge=0)
    tuned_output_price_per_million: float | None = Field(default=None, ge=0)
    provider: str = "openai"
    training_closes: date | None = None
    retires: date | None = None


DEFAULT_MODELS: tuple[ModelInfo, ...] = (
    ModelInfo(
        name="gpt-4.1-2025-04-14",
        encoding="o200k_base",
        max_tokens_per_example=65536,
        training_price_per_million=25.0,
        input_price_per_million=2.0,
        output_price_per_million=8.0,
        tuned_input_price_per_million=3.0,
        tuned_output_price_per_million=12.0,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2027_01_14,
    ),
    ModelInfo(
        name="gpt-4.1-mini-2025-04-14",
        encoding="o200k_base",
        max_tokens_per_example=65536,
        training_price_per_million=5.0,
        input_price_per_million=0.4,
        output_price_per_million=1.6,
        tuned_input_price_per_million=0.8,
        tuned_output_price_per_million=3.2,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2027_01_14,
    ),
    ModelInfo(
        name="gpt-4.1-nano-2025-04-14",
        encoding="o200k_base",
        max_tokens_per_example=65536,
        training_price_per_million=1.5,
        input_price_per_million=0.1,
        output_price_per_million=0.4,
        tuned_input_price_per_million=0.2,
        tuned_output_price_per_million=0.8,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2026_10_23,
    ),
    ModelInfo(
        name="gpt-4o-2024-08-06",
        encoding="o200k_base",
        max_tokens_per_example=65536,
        training_price_per_million=25.0,
        input_price_per_million=2.5,
        output_price_per_million=10.0,
        tuned_input_price_per_million=3.75,
        tuned_output_price_per_million=15.0,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2027_01_14,
    ),
    ModelInfo(
        name="gpt-4o-mini-2024-07-18",
        encoding="o200k_base",
        max_tokens_per_example=65536,
        training_price_per_million=3.0,
        input_price_per_million=0.15,
        output_price_per_million=0.6,
        tuned_input_price_per_million=0.3,
        tuned_output_price_per_million=1.2,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2027_01_14,
    ),
    ModelInfo(
        name="gpt-3.5-turbo-0125",
        encoding="cl100k_base",
        max_tokens_per_example=16385,
        training_price_per_million=8.0,
        input_price_per_million=0.5,
        output_price_per_million=1.5,
        tuned_input_price_per_million=3.0,
        tuned_output_price_per_million=6.0,
        training_closes=OPENAI_TRAINING_CLOSES,
        retires=_RETIRES_2026_10_23,
    ),
)


# Open models Together AI fine-tunes with LoRA. Counts use o200k_base as an estimate (their
# tokenisers differ); prices depend on Together's size brackets, so they are left unknown
# unless MODEL_TABLE_FILE gives them.
TOGETHER_MODELS: tuple[ModelInfo, ...] = tuple(
    ModelInfo(name=name, encoding="o200k_base", max_tokens_per_example=8192, provider="together")
    for name in (
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        "meta-llama/Llama-3.3-70B-Instruct-Reference",
        "Qwen/Qwen3-8B",
    )
)


# Open models Fireworks AI fine-tunes with LoRA (ids as its API names them). $0.50 per million
# training tokens is its price for models up to 16B parameters, as its pricing page gave it;
# MODEL_TABLE_FILE updates it. Fireworks serves most tuned LoRAs on a dedicated deployment
# (the provider's `deployment`); glm-5p3-flash's also on serverless, at the base's price.
FIREWORKS_MODELS: tuple[ModelInfo, ...] = (
    *(
        ModelInfo(
            name=f"accounts/fireworks/models/{name}",
            encoding="o200k_base",
            max_tokens_per_example=8192,
            training_price_per_million=0.5,
            provider="fireworks",
        )
        for name in ("llama-v3p1-8b-instruct", "qwen3-8b")
    ),
    ModelInfo(
        name="accounts/fireworks/models/glm-5p3-flash",
        encoding="o200k_base",
        max_tokens_per_example=8192,
        provider="fireworks",
    ),
)


KNOWN_MODELS = (*DEFAULT_MODELS, *TOGETHER_MODELS, *FIREWORKS_MODELS)


def undated_alias(name: str) -> str | None:
    """`gpt-4.1-mini-2025-04-14` -> `gpt-4.1-mini`; None when the name carries no date."""
    match = _SNAPSHOT_SUFFIX.search(name)
    return name[: match.start()] if match else None


def _key(name: str) -> str:
    return name.strip().lower()


class ModelTable:
    """Looks models up by exact name, undated alias, or the base of a fine-tuned `ft:` id."""

    def __init__(self, models: Iterable[ModelInfo]) -> None:
        self._by_name: dict[str, ModelInfo] = {}
        for info in models:
            self._by_name[_key(info.name)] = info
        self._by_alias = self._index_aliases()

    def _index_aliases(self) -> dict[str, ModelInfo]:
        by_alias: dict[str, ModelInfo] = {}
        # Sorted so that when two snapshots share an alias, the newest date wins.
        for key in sorted(self._by_name):
            alias = undated_alias(key)
            if alias is not None:
                by_alias[alias] = self._by_name[key]
        return by_alias

    def call_prices(self, model: str) -> tuple[float, float] | None:
        """Dollars per million prompt and reply tokens of a chat call to `model` (a tuned `ft:`
        model at its tuned prices); None where the table has no price."""
        info = self.lookup(model)
        if info is None:
            return None
        prices = (
            (info.tuned_input_price_per_million, info.tuned_output_price_per_million)
            if model.startswith("ft:")
            else (info.input_price_per_million, info.output_price_per_million)
        )
        return None if None in prices else prices

    def lookup(self, model: str) -> ModelInfo | None:
        base = _key(base_model_of(model.strip()))
        # Exact names first, so an entry literally named like an alias is never shadowed.
        return self._by_name.get(base) or self._by_alias.get(base)

    def names(self) -> list[str]:
        return [info.name for info in self._by_name.values()]

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)


def default_model_table() -> ModelTable:
    return ModelTable(KNOWN_MODELS)


def load_model_table(path: Path | None) -> ModelTable:
    """The defaults, then the entries of the JSON file at `path` (if any) laid over them.

    The file holds a list of objects keyed by `name`. For a known name only the fields given
    change; a new name must give every required field. Any problem raises a ValueError whose
    message names the file and the problem in one sentence.
    """
    models = {_key(info.name): info for info in KNOWN_MODELS}
    if path is None:
        return ModelTable(models.values())
    seen: set[str] = set()
    for position, entry in enumerate(_read_entries(path), start=1):
        name = _entry_name(path, position, entry)
        if _key(name) in seen:
            raise ValueError(f"Model table file {path} lists {name} more than once.")
        seen.add(_key(name))
        if _key(name) in models:
            models[_key(name)] = _overridden(path, position, entry, models[_key(name)])
        else:
            models[_key(name)] = _new_entry(path, position, entry, ModelTable(models.values()))
    return ModelTable(models.values())


def _read_entries(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"Model table file {path} cannot be read ({exc.strerror}).") from None
    except UnicodeDecodeError:
        raise ValueError(f"Model table file {path} is not UTF-8 text.") from None
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Model table file {path} is not valid JSON "
            f"(line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None
    if not isinstance(entries, list):
        raise ValueError(
            f"Model table file {path} must hold a JSON list of model entries, "
            f"not a JSON {_json_type(entries)}."
        )
    return entries


def _entry_name(path: Path, position: int, entry: Any) -> str:
    if not isinstance(entry, dict):
        raise ValueError(
            f"Model table file {path}: entry {position} must be a JSON object, "
            f"not a JSON {_json_type(entry)}."
        )
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f'Model table file {path}: entry {position} has no "name".')
    return name.strip()


def _overridden(path: Path, position: int, entry: dict[str, Any], known: ModelInfo) -> ModelInfo:
    # Keep the known name's spelling; the file may differ only in case or spaces.
    fields = {**known.model_dump(), **entry, "name": known.name}
    return _validated(path, position, fields)


def _new_entry(path: Path, position: int, entry: dict[str, Any], table: ModelTable) -> ModelInfo:
    fields = {**entry, "name": entry["name"].strip()}
    missing = [
        field
        for field, spec in ModelInfo.model_fields.items()
        if spec.is_required() and field not in fields
    ]
    if missing:
        # A partial entry under an alias ("gpt-4.1-mini") was most likely meant as an override.
        similar = table.lookup(fields["name"])
        hint = f" (did you mean {similar.name}?)" if similar is not None else ""
        raise ValueError(
            f"Model table file {path}: entry {position} ({fields['name']}) is not a known "
            f"model{hint}, so it needs {', '.join(missing)} as well."
        )
    return _validated(path, position, fields)


def _validated(path: Path, position: int, fields: dict[str, Any]) -> ModelInfo:
    try:
        return ModelInfo.model_validate(fields)
    except ValidationError as exc:
        raise ValueError(
            f"Model table file {path}: entry {position} ({fields['name']}) is invalid "
            f"({_first_problem(exc)})."
        ) from None


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"]) or "entry"
    if error["type"] == "extra_forbidden":
        return f'"{field}" is not a known field'
    return f"{field}: {error['msg']}"


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def lifecycle_warning(info: ModelInfo, today: date) -> str | None:
    """One sentence when the model has retired or is about to, or training is closing.

    The most pressing event wins: a retired model, then closed training, then the sooner of
    the two upcoming dates.
    """
    if info.retires is not None and info.retires <= today:
        return (
            f"{info.name} was retired on {info.retires.isoformat()}, so it can no longer be "
            "trained or used; choose another model."
        )
    if info.training_closes is not None and info.training_closes <= today:
        return (
            f"{_provider_name(info)} stopped accepting new fine-tuning jobs on "
            f"{info.training_closes.isoformat()}, so {info.name} can no longer be trained."
        )
    upcoming = [
        (when, message)
        for when, message in (_closing_soon(info, today), _retiring_soon(info, today))
        if when is not None
    ]
    return min(upcoming)[1] if upcoming else None


def _closing_soon(info: ModelInfo, today: date) -> tuple[date | None, str]:
    closes = info.training_closes
    if closes is None or (closes - today).days > TRAINING_WARNING_DAYS:
        return None, ""
    return closes, (
        f"{_provider_name(info)} stops accepting new fine-tuning jobs on {closes.isoformat()} "
        f"({_days_from_now(closes, today)}); start any training you need before then."
    )


def _retiring_soon(info: ModelInfo, today: date) -> tuple[date | None, str]:
    retires = info.retires
    if retires is None or (retires - today).days > RETIREMENT_WARNING_DAYS:
        return None, ""
    return retires, (
        f"{info.name} retires on {retires.isoformat()} ({_days_from_now(retires, today)}), "
        "and models fine-tuned from it stop working then too; plan a move to a newer model."
    )


def _days_from_now(when: date, today: date) -> str:
    days = (when - today).days
    if days == 0:
        return "today"
    return "1 day from now" if days == 1 else f"{days} days from now"


def _provider_name(info: ModelInfo) -> str:
    return PROVIDER_LABELS.get(info.provider, info.provider)


PROVIDER_LABELS = {
    "openai": "OpenAI",
    "together": "Together AI",
    "fireworks": "Fireworks AI",
    "local": "The local worker",
}
