"""The one pass over a whole dataset: which examples can train and their tokens, the epochs,
billed tokens and cost of a run, the warnings, and whether it can start (DatasetReport).

Datasets are streamed once, so memory stays flat however many examples there are.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from itertools import islice
from typing import Any

from pydantic import BaseModel

from bot.dataset.tokens import TokenCounter, encoding_for, encoding_name_for
from bot.dataset.validation.distribution import Distribution, distribution, quantile
from bot.dataset.validation.format_checks import example_errors, offending_values
from bot.dataset.validation.problems import counted, problem_words
from bot.dataset.validation.token_counts import example_texts
from bot.training.model_table import ModelInfo, ModelTable

MIN_EXAMPLES = 10  # OpenAI rejects training files with fewer
RECOMMENDED_EXAMPLES = 50  # OpenAI's advice for a clear improvement
MAX_SAMPLES_PER_ERROR = 20  # indexes kept per error kind; counts stay exact

# The cookbook's epoch heuristic, copied value for value so our estimate matches OpenAI's.
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25

BATCH_SIZE = 256  # examples analysed together


class UnknownModelError(ValueError):
    """The model is not in the model table, so its limits and price are unknown."""

    def __init__(self, model: str, known_names: list[str]) -> None:
        self.model = model
        self.known_names = list(known_names)
        super().__init__(
            f"{model} is not a model we know how to fine-tune; "
            f"known models are: {', '.join(self.known_names)}."
        )


class DatasetReport(BaseModel):
    """What a training run on this dataset would use and cost, and whether it can start."""

    model: str
    total: int
    trainable: int
    invalid: int
    errors: dict[str, int]
    error_samples: dict[str, list[int]]
    error_values: dict[str, str] = {}  # the first value that caused a kind (a key, a role)
    dropped_too_long: int
    tokens_total: int
    tokens_min: int | None
    tokens_max: int | None
    tokens_mean: float | None
    tokens_median: float | None
    assistant_tokens: int
    # The notebook's other counts, over the usable examples.
    missing_system: int = 0  # examples without a system message
    missing_user: int = 0  # examples without a user message
    tokens_per_example: Distribution | None = None
    messages_per_example: Distribution | None = None
    assistant_tokens_per_example: Distribution | None = None
    n_epochs: int
    billed_tokens: int
    estimated_cost_usd: float | None
    warnings: list[str]
    can_train: bool
    refusal: str | None


# --- epochs and cost ---------------------------------------------------------------------------


def default_epochs(n_examples: int) -> int:
    """The number of epochs OpenAI picks by default, per the cookbook's heuristic."""
    if n_examples < 1:
        raise ValueError("default_epochs needs at least one example")
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def estimate_cost(billed_tokens: int, info: ModelInfo) -> float | None:
    """US dollars for `billed_tokens` training tokens; None when the price is unknown."""
    if info.training_price_per_million is None:
        return None
    return billed_tokens / 1_000_000 * info.training_price_per_million


# --- the streaming analysis --------------------------------------------------------------------


class _Tally:
    """Running totals over the stream; its size depends on the token limit, not the dataset."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0
        self.invalid = 0
        self.errors: Counter[str] = Counter()
        self.samples: dict[str, list[int]] = {}
        self.values: dict[str, str] = {}
        # How many trainable examples have each token count. Trainable examples are within
        # the limit, so this holds at most limit + 1 keys and gives an exact median.
        self.lengths: Counter[int] = Counter()
        self.tokens_total = 0
        self.billable_per_epoch = 0
        self.assistant_tokens = 0
        # Histograms too, for the notebook's distributions (bounded by the values' range).
        self.messages: Counter[int] = Counter()
        self.assistant: Counter[int] = Counter()
        self.missing_system = 0
        self.missing_user = 0

    def reject(
        self, index: int, kinds: Iterable[str], values: dict[str, str] | None = None
    ) -> None:
        for kind, value in (values or {}).items():
            self.values.setdefault(kind, value)
        for kind in kinds:
            self.errors[kind] += 1
            kept = self.samples.setdefault(kind, [])
            if len(kept) < MAX_SAMPLES_PER_ERROR:
                kept.append(index)

    def accept(self, tokens: int, assistant: int, messages: list[Any]) -> None:
        self.lengths[tokens] += 1
        self.tokens_total += tokens
        self.billable_per_epoch += min(self.limit, tokens)
        self.assistant_tokens += assistant
        self.assistant[assistant] += 1
        self.messages[len(messages)] += 1
        roles = {message.get("role") for message in messages}
        self.missing_system += "system" not in roles
        self.missing_user += "user" not in roles

    @property
    def trainable(self) -> int:
        return self.lengths.total()


def analyse_dataset(
    examples: Iterable[Any],
    model: str,
    table: ModelTable,
    epochs: int | None = None,
    keep: list[Any] | None = None,
    *,
    chat_dataset: bool = True,
) -> DatasetReport:
    """Check, count and price a dataset in one pass over `examples`.

    Malformed examples and those over the model's token limit are left out of the trainable
    set and counted; the report says whether what remains is enough to train on. With `keep`,
    the trainable examples are appended to it, so a caller about to upload need not check twice.
    A file (`chat_dataset=False`) is not told to approve more replies.
    """
    info = table.lookup(model)
    if info is None:
        raise UnknownModelError(model, table.names())
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    tally = _Tally(info.max_tokens_per_example)
    counter = TokenCounter(encoding_for(model))
    stream = iter(examples)
    start = 0
    # A batch at a time: its new texts are counted together, and memory stays flat.
    while batch := list(islice(stream, BATCH_SIZE)):
        for example in _analyse_batch(tally, start, batch, counter):
            if keep is not None:
                keep.append(example)
        start += len(batch)
    return _report(tally, info, model, epochs, chat_dataset)


def _analyse_batch(tally: _Tally, start: int, batch: list[Any], counter: TokenCounter) -> list[Any]:
    """Tally a batch of examples numbered from `start`; return its trainable ones, in order."""
    valid = []
    for index, example in enumerate(batch, start):
        tally.total += 1
        kinds = example_errors(example)
        if kinds:
            tally.invalid += 1
            tally.reject(index, sorted(kinds), offending_values(example))
        else:
            valid.append((index, example, *example_texts(example)))
    counter.count_all(text for _, _, texts, _, _ in valid for text in texts)
    trainable = []
    for index, example, texts, trained_texts, framing in valid:
        tokens = framing + counter.total(texts)
        if tokens > tally.limit:
            tally.reject(index, ["too_many_tokens"])
            continue
        tally.accept(tokens, counter.total(trained_texts), example["messages"])
        trainable.append(example)
    return trainable


def check_batch(batch: list[Any], counter: TokenCounter, limit: int) -> list[tuple[set[str], int]]:
    """Each example's problems and tokens, counting the batch's texts together (for callers
    that must know every invalid one, such as an import; `analyse_dataset` keeps samples)."""
    checked: list[tuple[set[str], int]] = [(example_errors(example), 0) for example in batch]
    texts = {i: example_texts(example) for i, example in enumerate(batch) if not checked[i][0]}
    counter.count_all(text for all_texts, _, _ in texts.values() for text in all_texts)
    for i, (all_texts, _, framing) in texts.items():
        tokens = framing + counter.total(all_texts)
        checked[i] = ({"too_many_tokens"} if tokens > limit else set(), tokens)
    return checked


def _report(
    tally: _Tally, info: ModelInfo, model: str, epochs: int | None, chat_dataset: bool
) -> DatasetReport:
    trainable = tally.trainable
    n_epochs = epochs or _default_epochs_or_zero(trainable)
    billed = tally.billable_per_epoch * n_epochs
    refusal = _refusal(trainable, chat_dataset)
    return DatasetReport(
        model=info.name,
        total=tally.total,
        trainable=trainable,
        invalid=tally.invalid,
        errors=dict(tally.errors),
        error_samples=tally.samples,
        error_values=tally.values,
        dropped_too_long=tally.errors["too_many_tokens"],
        tokens_total=tally.tokens_total,
        tokens_min=min(tally.lengths) if trainable else None,
        tokens_max=max(tally.lengths) if trainable else None,
        tokens_mean=tally.tokens_total / trainable if trainable else None,
        tokens_median=quantile(tally.lengths, 0.5) if trainable else None,
        assistant_tokens=tally.assistant_tokens,
        missing_system=tally.missing_system,
        missing_user=tally.missing_user,
        tokens_per_example=distribution(tally.lengths),
        messages_per_example=distribution(tally.messages),
        assistant_tokens_per_example=distribution(tally.assistant),
        n_epochs=n_epochs,
        billed_tokens=billed,
        estimated_cost_usd=estimate_cost(billed, info),
        warnings=_warnings(tally, info, model, chat_dataset),
        can_train=refusal is None,
        refusal=refusal,
    )


def _default_epochs_or_zero(trainable: int) -> int:
    # Nothing to train on means no epochs and nothing billed, rather than an error.
    return default_epochs(trainable) if trainable else 0


def _refusal(trainable: int, chat_dataset: bool) -> str | None:
    if trainable >= MIN_EXAMPLES:
        return None
    missing = MIN_EXAMPLES - trainable
    needs = f"a fine-tuning job needs at least {MIN_EXAMPLES}"
    if not chat_dataset:
        return f"The file has {counted(trainable, 'usable example')}; {needs}."
    return (
        f"The dataset has {counted(trainable, 'usable example')}; {needs}, so approve {missing} "
        f"more {'reply' if missing == 1 else 'replies'} first."
    )


def few_examples_advice(trainable: int, chat_dataset: bool = True) -> str:
    """The advice for a supervised dataset that can train but is small."""
    advice = (
        f"Only {trainable:,} {'example is' if trainable == 1 else 'examples are'} usable; "
        f"fine-tuning usually improves clearly from {RECOMMENDED_EXAMPLES} to 100 good examples"
    )
    return f"{advice}, so consider approving more replies." if chat_dataset else f"{advice}."


def _warnings(tally: _Tally, info: ModelInfo, model: str, chat_dataset: bool) -> list[str]:
    warnings = []
    if tally.invalid:
        kinds = sorted(
            (kind for kind in tally.errors if kind != "too_many_tokens"),
            key=lambda kind: (-tally.errors[kind], kind),
        )
        details = "; ".join(
            f"{tally.errors[kind]} {problem_words(kind, tally.values.get(kind))} (example "
            f"{', '.join(str(i + 1) for i in tally.samples.get(kind, []))})"
            for kind in kinds
        )
        verb = "was" if tally.invalid == 1 else "were"
        warnings.append(f"{counted(tally.invalid, 'example')} {verb} skipped: {details}.")
    if tally.errors["too_many_tokens"]:
        dropped = tally.errors["too_many_tokens"]
        verb = "was" if dropped == 1 else "were"
        warnings.append(
            f"{counted(dropped, 'example')} {verb} left out for being longer than the "
            f"{info.max_tokens_per_example:,}-token limit of {info.name}."
        )
    if MIN_EXAMPLES <= tally.trainable < RECOMMENDED_EXAMPLES:
        warnings.append(few_examples_advice(tally.trainable, chat_dataset))
    counted_with = encoding_name_for(model)
    if counted_with != info.encoding:
        warnings.append(
            f"Tokens were counted with {counted_with}, but the model table says {info.name} "
            f"uses {info.encoding}, so the counts may be off."
        )
    return warnings
