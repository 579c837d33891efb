"""Where models live: the providers a deployment talks to, read once at start.

Either from the TOML file named by PROVIDERS_FILE (several providers at once), or, without it,
from the one-provider variables that came first (OPENAI_*, CHAT_*, TRAIN_*, TRAIN_BACKEND), so
a deployment that never heard of providers keeps working unchanged.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.config import NO_KEY, Settings, SettingsError

logger = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
_KNOWN_KEYS = frozenset(
    {
        "kind",
        "base_url",
        "api_key_env",
        "chat",
        "train",
        "api_version",
        "account_id",
        "deployment",
        "models_dir",
    }
)
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
_KEY_PREFIXES = ("sk-", "fw_", "xox", "tgp_", "hf_", "gsk_", "Bearer ")


def _looks_like_a_key(value: str) -> bool:
    """A key pasted where the name of its variable belongs: a known key prefix, anything that
    can't be a variable's name, or a long run of letters and digits with no `_` (Azure's and
    Together's keys are hex)."""
    if value.startswith(_KEY_PREFIXES) or not _VARIABLE.match(value):
        return True
    return len(value) >= 24 and "_" not in value and any(c.isdigit() for c in value)


@dataclass(frozen=True)
class Provider:
    """One place models live: how to reach it and what it may do."""

    name: str
    kind: str
    base_url: str | None
    api_key: str = field(repr=False, default="")
    api_key_env: str | None = None  # where the key came from, to name in messages
    chat: bool = True
    train: bool = False
    api_version: str = "2025-04-01-preview"  # Azure OpenAI only
    account_id: str | None = None  # Fireworks only
    deployment: str | None = None  # Fireworks only: the dedicated deployment serving LoRAs
    models_dir: Path | None = None  # local only: where the model server sees adapters

    @property
    def key(self) -> str:
        """The key to send; SDKs refuse to build a client without one."""
        return self.api_key or NO_KEY


@dataclass(frozen=True)
class ProvidersConfig:
    providers: dict[str, Provider]
    default_chat: str
    default_train: str | None  # None: nothing here trains
    source: str  # the file, or "the environment", for messages

    @property
    def secrets(self) -> list[str]:
        return [p.api_key for p in self.providers.values() if p.api_key]


def load_providers(settings: Settings, environ: Mapping[str, str]) -> ProvidersConfig:
    """The configured providers; SettingsError names the file and line, or the variable."""
    if settings.providers_file is not None:
        return read_providers_file(settings.providers_file, environ, settings)
    return providers_from_variables(settings)


# The file --------------------------------------------------------------------------------------


def read_providers_file(
    path: Path, environ: Mapping[str, str], settings: Settings | None = None
) -> ProvidersConfig:
    if str(path) in ("", "."):
        raise SettingsError(
            "PROVIDERS_FILE is empty; name the TOML file, or unset it to use the one-provider "
            "variables (OPENAI_*, CHAT_*, TRAIN_*)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"PROVIDERS_FILE {path} cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise SettingsError(f"PROVIDERS_FILE {path} is not UTF-8 text") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        reason = str(error)
        if "end of document" in reason and (start := _unclosed_from(text)) is not None:
            # tomllib points at the end for a quote or bracket never closed: say where it opens.
            reason += f"; what is never closed starts at line {start}"
        raise SettingsError(f"PROVIDERS_FILE {path} is not valid TOML: {reason}") from None
    where = _Locator(path, text)
    tables = document.get("providers")
    if not isinstance(tables, dict) or not tables:
        raise SettingsError(f"{where.file()}: no [providers.<name>] table; add at least one")
    unknown_sections = sorted(set(document) - {"providers", "defaults"})
    if unknown_sections:
        raise SettingsError(
            f"{where.at(unknown_sections[0])}: unknown section [{unknown_sections[0]}] "
            "(the file has [providers.<name>] and [defaults])"
        )
    providers = {
        name: _provider(name, table, environ, where, settings) for name, table in tables.items()
    }
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SettingsError(f"{where.at('defaults')}: [defaults] must be a table")
    chat = _default(defaults, "chat", providers, where)
    train = _default(defaults, "train", providers, where)
    if chat is None:
        raise SettingsError(f"{where.file()}: no provider has chat = true; the bot needs one")
    return ProvidersConfig(providers, chat, train, str(path))


def _unclosed_from(text: str) -> int | None:
    """The line where the construct that runs to the end of `text` opens: the first line from
    which every longer prefix of the file fails to parse (files are small; this runs only on
    that error)."""
    lines = text.splitlines(keepends=True)
    start = None
    for count in range(len(lines), 0, -1):
        try:
            tomllib.loads("".join(lines[:count]))
        except tomllib.TOMLDecodeError:
            start = count
            continue
        break
    return start


def _provider(
    name: str, table: Any, environ: Mapping[str, str], where: _Locator, settings: Settings | None
) -> Provider:
    section = f"providers.{name}"
    if not _NAME.match(name):
        raise SettingsError(
            f"{where.at(section)}: provider name `{name}` may hold only letters, digits, "
            "`-` and `_` (up to 40)"
        )
    if not isinstance(table, dict):
        raise SettingsError(f"{where.at(section)}: [{section}] must be a table")
    for key in sorted(set(table) - _KNOWN_KEYS):
        # Newer files may carry keys this version doesn't know: said, not fatal.
        logger.warning("%s: key `%s` is not one I know; ignored", where.at(section), key)
    # Imported here: the kinds' modules import this one for `Provider`.
    from bot.trainers import KINDS

    kind = table.get("kind")
    if kind not in KINDS:
        raise SettingsError(
            f"{where.at(section)}: kind must be one of {', '.join(KINDS)}, not {kind!r}"
        )
    strings = {
        key: table.get(key) for key in ("base_url", "api_key_env", "account_id", "deployment")
    }
    for key, value in strings.items():
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise SettingsError(f"{where.at(section)}: {key} must be a non-empty string")
    for key in ("chat", "train"):
        if not isinstance(table.get(key, False), bool):
            raise SettingsError(f"{where.at(section)}: {key} must be true or false")
    base_url = strings["base_url"] or KINDS[kind].default_base_url
    if base_url is None:
        raise SettingsError(f"{where.at(section)}: base_url is required for kind = {kind!r}")
    key_env = strings["api_key_env"]
    if key_env and _looks_like_a_key(key_env):
        # Never repeated: it may be the key itself, and this message goes to logs.
        raise SettingsError(
            f"{where.at(section)}: api_key_env must be the name of the variable that holds the "
            "key (letters, digits and _), not the key itself; move the key into the environment "
            "(the value is not shown here)"
        )
    api_key = ""
    if key_env:
        api_key = environ.get(key_env, "").strip()
        if not api_key:
            raise SettingsError(
                f"{key_env} is not set; [{section}] reads its key from it ({where.at(section)})"
            )
    elif KINDS[kind].needs_key:
        raise SettingsError(f"{where.at(section)}: kind = {kind!r} needs api_key_env")
    for needed in KINDS[kind].requires:
        if not table.get(needed):
            raise SettingsError(f"{where.at(section)}: kind = {kind!r} needs {needed}")
    models_dir = table.get("models_dir")
    if models_dir is None and kind == "local" and settings is not None:
        models_dir = settings.local_models_dir
    return Provider(
        name=name,
        kind=kind,
        base_url=base_url.rstrip("/"),
        api_key=api_key,
        api_key_env=key_env,
        chat=table.get("chat", True),
        train=table.get("train", False),
        api_version=str(table.get("api_version") or Provider.api_version),
        account_id=strings["account_id"],
        deployment=strings["deployment"],
        models_dir=Path(models_dir) if models_dir else None,
    )


def _default(
    defaults: dict, what: str, providers: dict[str, Provider], where: _Locator
) -> str | None:
    named = defaults.get(what)
    able = [p.name for p in providers.values() if getattr(p, what)]
    if named is None:
        return able[0] if able else None  # the first that can, in the file's order
    if named not in providers:
        raise SettingsError(
            f"{where.at('defaults')}: {what} = {named!r} is not a provider in the file "
            f"({', '.join(providers)})"
        )
    if named not in able:
        raise SettingsError(
            f"{where.at('defaults')}: {what} = {named!r}, but [providers.{named}] has "
            f"{what} = false"
        )
    return named


class _Locator:
    """Points at the line where a table is declared, so a message says where to look: its
    header (`[providers.gpu]`, quoted or not), or the key that makes it (`gpu = { … }` under
    `[providers]`, or `providers.gpu.kind = …`)."""

    def __init__(self, path: Path, text: str) -> None:
        self._path = path
        self._lines = text.splitlines()

    def file(self) -> str:
        return f"PROVIDERS_FILE {self._path}"

    def at(self, section: str) -> str:
        wanted = tuple(section.split("."))
        table: tuple[str, ...] = ()
        for number, line in enumerate(self._lines, start=1):
            if header := _HEADER.match(line):
                table = declared = _parts(header.group(1))
            elif key := _KEY.match(line):
                declared = table + _parts(key.group(1))
            else:
                continue
            if declared[: len(wanted)] == wanted:
                return f"{self.file()} line {number}"
        return self.file()


_HEADER = re.compile(r"^\s*\[\[?([^\[\]]+)\]\]?")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"' .]+?)\s*=")


def _parts(dotted: str) -> tuple[str, ...]:
    """`providers . "gpu"` as ("providers", "gpu"); names here hold no dots."""
    return tuple(part.strip().strip("\"'") for part in dotted.split("."))


# The variables of a one-provider setup ----------------------------------------------------------


def providers_from_variables(settings: Settings) -> ProvidersConfig:
    """TRAIN_BACKEND's provider, named after it, and where the bot chats: the same provider when
    the chat endpoint is its own, else one named `chat` (CHAT_BASE_URL or OPENAI_*)."""
    backend = settings.train_backend
    chat_url = settings.chat_url
    trains = Provider(
        name=backend,
        kind=backend,
        base_url=_training_url(settings),
        api_key=settings.train_key if backend in ("openai", "compatible") else "",
        chat=False,
        train=True,
        api_version=settings.train_api_version,
        models_dir=settings.local_models_dir if backend == "local" else None,
    )
    if backend != "openai" and backend != "compatible":
        trains = _with(trains, api_key=settings.train_api_key)
    if backend == "local":
        # The worker's adapters are served by the chat endpoint (vLLM): one provider.
        local = _with(trains, base_url=chat_url or OPENAI_URL, api_key=settings.chat_key)
        return ProvidersConfig(
            {"local": _with(local, chat=True)}, "local", "local", "the environment"
        )
    if backend == "openai" and not settings.chat_base_url and settings.chat_key == trains.api_key:
        return ProvidersConfig(
            {"openai": _with(trains, chat=True)}, "openai", "openai", "the environment"
        )
    chat = Provider(
        name="chat",
        kind="compatible" if chat_url else "openai",
        base_url=(chat_url or OPENAI_URL).rstrip("/"),
        api_key=settings.chat_key,
        chat=True,
    )
    return ProvidersConfig({"chat": chat, backend: trains}, "chat", backend, "the environment")


def _training_url(settings: Settings) -> str:
    backend = settings.train_backend
    url = settings.train_base_url
    if backend in ("openai", "compatible"):
        url = url or settings.openai_base_url
    if url is None:
        from bot.trainers import KINDS  # see _provider

        url = KINDS[backend].default_base_url or ""
    return url.rstrip("/")


def _with(provider: Provider, **changes: Any) -> Provider:
    return Provider(**{**provider.__dict__, **changes})
