"""Checks a chat fine-tuning dataset the way OpenAI's cookbook does, and estimates its cost.

Datasets are streamed once, so memory stays flat however many examples there are.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from typing import Any

from pydantic import BaseModel

from bot.dataset.tokens import (
    TokenCounter,
    as_text,
    count_messages,
    encoding_for,
    encoding_name_for,
)
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

EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "function_call", "tool_calls", "tool_call_id", "weight", "refusal"}
)
ROLES = frozenset({"system", "user", "assistant", "function", "tool", "developer"})
PLAIN_ROLES = frozenset({"system", "user", "assistant"})
# What an assistant message is trained to produce, for the assistant token count.
TRAINED_KEYS = ("content", "tool_calls", "function_call")
BATCH_SIZE = 256  # examples analysed together

# A short reason per error kind, for people reading the report.
ERROR_REASONS: dict[str, str] = {
    "data_type": "the example is not a JSON object",
    "missing_messages_list": "the example has no list of messages",
    "message_missing_key": "a message lacks its role or content, or a tool reply its tool_call_id",
    "message_unrecognized_key": "a message has a key OpenAI does not accept",
    "unrecognized_role": "a message has a role OpenAI does not accept",
    "missing_content": "a message has no content",
    "example_missing_assistant_message": "the example has no assistant reply",
    "invalid_weight": "a weight is not 0 or 1, or is on a message that is not the assistant's",
    "invalid_tool_calls": "a message's tool_calls are malformed",
    "invalid_tools": "the example's tools are malformed",
    "unknown_example_key": "the example has a top-level key OpenAI does not accept",
    "too_many_tokens": "the example is longer than the model accepts",
    "no_trained_assistant_message": "every assistant reply has weight 0, so nothing is learnt",
}


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
    dropped_too_long: int
    tokens_total: int
    tokens_min: int | None
    tokens_max: int | None
    tokens_mean: float | None
    tokens_median: float | None
    assistant_tokens: int
    n_epochs: int
    billed_tokens: int
    estimated_cost_usd: float | None
    warnings: list[str]
    can_train: bool
    refusal: str | None


# --- format checks -----------------------------------------------------------------------------


def example_errors(example: Any) -> set[str]:
    """The error kinds of one example; empty when OpenAI would accept its format."""
    if not isinstance(example, dict):
        return {"data_type"}
    errors = set()
    if any(key not in EXAMPLE_KEYS for key in example):
        errors.add("unknown_example_key")
    if "tools" in example and not _valid_tools(example["tools"]):
        errors.add("invalid_tools")
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        errors.add("invalid_tools")
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        errors.add("missing_messages_list")
        return errors
    for message in messages:
        if not _is_plain_text_message(message):
            errors |= message_errors(message)
    errors |= _assistant_errors(messages)
    return errors


def _is_plain_text_message(message: Any) -> bool:
    """The common shape, accepted without the full check: role, non-empty text, valid weight.

    For such a message `message_errors` finds nothing; anything else gets the full check.
    """
    if type(message) is not dict:
        return False
    content = message.get("content")
    role = message.get("role")
    if type(content) is not str or not content or type(role) is not str:
        return False
    if role not in PLAIN_ROLES:
        return False
    if len(message) == 2:  # exactly role and content
        return True
    return len(message) == 3 and role == "assistant" and _valid_weight(message.get("weight"))


def message_errors(message: Any) -> set[str]:
    """The error kinds of one message."""
    if not isinstance(message, dict):
        return {"message_missing_key"}
    errors = set()
    role = message.get("role")
    content_key_missing = "content" not in message and not _calls_a_function(message)
    if "role" not in message or content_key_missing:
        errors.add("message_missing_key")
    if role == "tool" and not _non_empty_str(message.get("tool_call_id")):
        errors.add("message_missing_key")
    if any(key not in MESSAGE_KEYS for key in message):
        errors.add("message_unrecognized_key")
    if "role" in message and not (isinstance(role, str) and role in ROLES):
        errors.add("unrecognized_role")
    # An absent content key is already reported above; one reason per fault reads better.
    if not content_key_missing and not _has_content(message):
        errors.add("missing_content")
    if "weight" in message and not (role == "assistant" and _valid_weight(message["weight"])):
        errors.add("invalid_weight")
    if "tool_calls" in message and not (
        role == "assistant" and _valid_tool_calls(message["tool_calls"])
    ):
        errors.add("invalid_tool_calls")
    return errors


def _assistant_errors(messages: list[Any]) -> set[str]:
    replies = [m for m in messages if isinstance(m, dict) and m.get("role") == "assistant"]
    if not replies:
        return {"example_missing_assistant_message"}
    if all(reply.get("weight", 1) == 0 for reply in replies):
        return {"no_trained_assistant_message"}
    return set()


def _calls_a_function(message: dict[str, Any]) -> bool:
    # An assistant turn that only calls a tool may leave content out (or null).
    return bool(message.get("tool_calls")) or bool(message.get("function_call"))


def _has_content(message: dict[str, Any]) -> bool:
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        return False
    if content:  # a non-empty string, or a non-empty list of content parts
        return True
    if message.get("role") == "assistant" and _non_empty_str(message.get("refusal")):
        return True
    return message.get("role") != "tool" and _calls_a_function(message)


def _valid_weight(weight: Any) -> bool:
    # bool is an int in Python, but JSON `true` is not a weight OpenAI accepts.
    return type(weight) is int and weight in (0, 1)


def _valid_tool_calls(tool_calls: Any) -> bool:
    return (
        isinstance(tool_calls, list)
        and len(tool_calls) > 0
        and all(_valid_tool_call(call) for call in tool_calls)
    )


def _valid_tool_call(call: Any) -> bool:
    if not isinstance(call, dict) or call.get("type") != "function":
        return False
    function = call.get("function")
    return (
        _non_empty_str(call.get("id"))
        and isinstance(function, dict)
        and _non_empty_str(function.get("name"))
        and isinstance(function.get("arguments"), str)
    )


def _valid_tools(tools: Any) -> bool:
    return isinstance(tools, list) and all(_valid_tool(tool) for tool in tools)


def _valid_tool(tool: Any) -> bool:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return False
    function = tool.get("function")
    return (
        isinstance(function, dict)
        and _non_empty_str(function.get("name"))
        and isinstance(function.get("parameters", {}), dict)
    )


def _non_empty_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


# --- token counts ------------------------------------------------------------------------------


def example_tokens(example: dict[str, Any], model: str) -> int:
    """Tokens of a well-formed example: its messages as the cookbook counts them, plus the
    tool definitions as JSON text, since OpenAI bills those too."""
    total = count_messages(example["messages"], model)
    for key in ("tools", "functions"):
        if example.get(key):
            total += _text_tokens(example[key], model)
    return total


def assistant_tokens(messages: list[dict[str, Any]], model: str) -> int:
    """Tokens the model is trained to produce: assistant turns whose weight is not 0."""
    return sum(
        _text_tokens(message.get(key), model)
        for message in messages
        if message.get("role") == "assistant" and message.get("weight", 1) != 0
        for key in TRAINED_KEYS
        if message.get(key)
    )


def _text_tokens(value: Any, model: str) -> int:
    # Same serialisation as bot.dataset.tokens, so structured values count the same way everywhere.
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return len(encoding_for(model).encode(value, disallowed_special=()))


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
        # How many trainable examples have each token count. Trainable examples are within
        # the limit, so this holds at most limit + 1 keys and gives an exact median.
        self.lengths: Counter[int] = Counter()
        self.tokens_total = 0
        self.billable_per_epoch = 0
        self.assistant_tokens = 0

    def reject(self, index: int, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self.errors[kind] += 1
            kept = self.samples.setdefault(kind, [])
            if len(kept) < MAX_SAMPLES_PER_ERROR:
                kept.append(index)

    def accept(self, tokens: int, assistant: int) -> None:
        self.lengths[tokens] += 1
        self.tokens_total += tokens
        self.billable_per_epoch += min(self.limit, tokens)
        self.assistant_tokens += assistant

    @property
    def trainable(self) -> int:
        return self.lengths.total()


def analyse_dataset(
    examples: Iterable[Any],
    model: str,
    table: ModelTable,
    epochs: int | None = None,
    keep: list[Any] | None = None,
) -> DatasetReport:
    """Check, count and price a dataset in one pass over `examples`.

    Malformed examples and those over the model's token limit are left out of the trainable
    set and counted; the report says whether what remains is enough to train on. With `keep`,
    the trainable examples are appended to it, so a caller about to upload need not check twice.
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
    return _report(tally, info, model, epochs)


def _analyse_batch(tally: _Tally, start: int, batch: list[Any], counter: TokenCounter) -> list[Any]:
    """Tally a batch of examples numbered from `start`; return its trainable ones, in order."""
    valid = []
    for index, example in enumerate(batch, start):
        tally.total += 1
        kinds = example_errors(example)
        if kinds:
            tally.invalid += 1
            tally.reject(index, sorted(kinds))
        else:
            valid.append((index, example, *_texts(example)))
    counter.count_all(text for _, _, texts, _, _ in valid for text in texts)
    trainable = []
    for index, example, texts, trained_texts, framing in valid:
        tokens = framing + counter.total(texts)
        if tokens > tally.limit:
            tally.reject(index, ["too_many_tokens"])
            continue
        tally.accept(tokens, counter.total(trained_texts))
        trainable.append(example)
    return trainable


def check_batch(batch: list[Any], counter: TokenCounter, limit: int) -> list[tuple[set[str], int]]:
    """Each example's problems and tokens, counting the batch's texts together (for callers
    that must know every invalid one, such as an import; `analyse_dataset` keeps samples)."""
    checked: list[tuple[set[str], int]] = [(example_errors(example), 0) for example in batch]
    texts = {i: _texts(example) for i, example in enumerate(batch) if not checked[i][0]}
    counter.count_all(text for all_texts, _, _ in texts.values() for text in all_texts)
    for i, (all_texts, _, framing) in texts.items():
        tokens = framing + counter.total(all_texts)
        checked[i] = ({"too_many_tokens"} if tokens > limit else set(), tokens)
    return checked


def _texts(example: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """What a well-formed example's tokens are made of, from one walk over it.

    The texts counted (every message value but `weight`, then tool definitions as JSON), the
    texts of trained assistant replies among them, and the fixed tokens: 3 of framing per
    message, 3 priming the reply, 1 per name. The sums equal `example_tokens` and
    `assistant_tokens`, without encoding an assistant reply twice.
    """
    texts: list[str] = []
    trained: list[str] = []
    messages = example["messages"]
    framing = 3 + 3 * len(messages)
    for message in messages:
        is_trained = message.get("role") == "assistant" and message.get("weight", 1) != 0
        for key, value in message.items():
            if key == "weight":
                continue
            text = value if type(value) is str else as_text(value)
            texts.append(text)
            if key == "name":
                framing += 1
            elif is_trained and value and key in TRAINED_KEYS:
                trained.append(text)
    for key in ("tools", "functions"):
        if example.get(key):
            texts.append(as_text(example[key]))
    return texts, trained, framing


def _report(tally: _Tally, info: ModelInfo, model: str, epochs: int | None) -> DatasetReport:
    trainable = tally.trainable
    n_epochs = epochs or _default_epochs_or_zero(trainable)
    billed = tally.billable_per_epoch * n_epochs
    refusal = _refusal(trainable)
    return DatasetReport(
        model=info.name,
        total=tally.total,
        trainable=trainable,
        invalid=tally.invalid,
        errors=dict(tally.errors),
        error_samples=tally.samples,
        dropped_too_long=tally.errors["too_many_tokens"],
        tokens_total=tally.tokens_total,
        tokens_min=min(tally.lengths) if trainable else None,
        tokens_max=max(tally.lengths) if trainable else None,
        tokens_mean=tally.tokens_total / trainable if trainable else None,
        tokens_median=_median(tally.lengths),
        assistant_tokens=tally.assistant_tokens,
        n_epochs=n_epochs,
        billed_tokens=billed,
        estimated_cost_usd=estimate_cost(billed, info),
        warnings=_warnings(tally, info, model),
        can_train=refusal is None,
        refusal=refusal,
    )


def _default_epochs_or_zero(trainable: int) -> int:
    # Nothing to train on means no epochs and nothing billed, rather than an error.
    return default_epochs(trainable) if trainable else 0


def _median(lengths: Counter[int]) -> float | None:
    """The exact median of a histogram {token count: how many examples}."""
    n = lengths.total()
    if n == 0:
        return None
    # The 0-based positions of the middle value(s) in sorted order.
    wanted = sorted({(n - 1) // 2, n // 2})
    found: list[int] = []
    seen = 0
    for value in sorted(lengths):
        seen += lengths[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
        if not wanted:
            break
    return sum(found) / len(found)


def _refusal(trainable: int) -> str | None:
    if trainable >= MIN_EXAMPLES:
        return None
    missing = MIN_EXAMPLES - trainable
    return (
        f"The dataset has {_count(trainable, 'usable example')}; a fine-tuning job needs at least "
        f"{MIN_EXAMPLES}, so approve {missing} more {'reply' if missing == 1 else 'replies'} first."
    )


# What each kind of problem means, in words a person acts on.
PROBLEM_WORDS = {
    "data_type": "is not a JSON object",
    "unknown_example_key": "has a key other than messages, tools, parallel_tool_calls",
    "missing_messages_list": "has no list of messages",
    "message_missing_key": "has a message without a role or content",
    "message_unrecognized_key": "has a message with a key OpenAI does not accept",
    "unrecognized_role": "has a message whose role is not system, user, assistant or tool",
    "missing_content": "has a message with empty content",
    "example_missing_assistant_message": "has no assistant message",
    "no_trained_assistant_message": "has no assistant message with weight 1",
    "invalid_weight": "has a weight other than 0 or 1, or one on a message not the assistant's",
    "invalid_tools": "has tool definitions OpenAI would reject",
    "invalid_tool_calls": "has malformed tool calls",
    "too_many_tokens": "is longer than the model's per-example token limit",
    "invalid_input": "has no `input` object with messages",
    "invalid_preferred_output": "has no single assistant message as preferred_output",
    "invalid_non_preferred_output": "has no single assistant message as non_preferred_output",
}


def problem_words(kind: str) -> str:
    return PROBLEM_WORDS.get(kind, kind.replace("_", " "))


def describe_problems(report: DatasetReport, item: str = "example") -> list[str]:
    """One line per kind of problem, commonest first, with the first few places it occurs
    (`item` numbers counted from 1: examples in the dataset, lines in a file)."""
    kinds = sorted(report.errors, key=lambda kind: (-report.errors[kind], kind))
    lines = []
    for kind in kinds:
        count = report.errors[kind]
        places = ", ".join(str(i + 1) for i in report.error_samples.get(kind, []))
        more = "…" if count > len(report.error_samples.get(kind, [])) else ""
        lines.append(f"{_count(count, item)} {problem_words(kind)} ({item} {places}{more}).")
    return lines


def few_examples_advice(trainable: int) -> str:
    """The advice for a supervised dataset that can train but is small."""
    return (
        f"Only {trainable} examples are usable; fine-tuning usually improves clearly "
        f"from {RECOMMENDED_EXAMPLES} to 100 good examples, so consider approving more replies."
    )


def _warnings(tally: _Tally, info: ModelInfo, model: str) -> list[str]:
    warnings = []
    if tally.invalid:
        kinds = sorted(
            (kind for kind in tally.errors if kind != "too_many_tokens"),
            key=lambda kind: (-tally.errors[kind], kind),
        )
        details = "; ".join(
            f"{tally.errors[kind]} {problem_words(kind)} (example "
            f"{', '.join(str(i + 1) for i in tally.samples.get(kind, []))})"
            for kind in kinds
        )
        verb = "was" if tally.invalid == 1 else "were"
        warnings.append(f"{_count(tally.invalid, 'example')} {verb} skipped: {details}.")
    if tally.errors["too_many_tokens"]:
        dropped = tally.errors["too_many_tokens"]
        verb = "was" if dropped == 1 else "were"
        warnings.append(
            f"{_count(dropped, 'example')} {verb} left out for being longer than the "
            f"{info.max_tokens_per_example:,}-token limit of {info.name}."
        )
    if MIN_EXAMPLES <= tally.trainable < RECOMMENDED_EXAMPLES:
        warnings.append(few_examples_advice(tally.trainable))
    counted_with = encoding_name_for(model)
    if counted_with != info.encoding:
        warnings.append(
            f"Tokens were counted with {counted_with}, but the model table says {info.name} "
            f"uses {info.encoding}, so the counts may be off."
        )
    return warnings


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


# --- holdout -----------------------------------------------------------------------------------


def split_holdout(example_ids: list[str], fraction: float) -> tuple[list[str], list[str]]:
    """Split ids into (training, validation), the same way every time for the same ids.

    Ids are ranked by the sha256 of their text and the lowest-ranked go to validation, so a
    split never depends on the order of the input or on a random seed, and adding examples
    moves few existing ones across. Both lists keep the input order.
    """
    if not isinstance(fraction, int | float) or not 0 < fraction <= 0.5:
        raise ValueError(f"the holdout fraction must be above 0 and at most 0.5, not {fraction}")
    if len(set(example_ids)) != len(example_ids):
        raise ValueError("example ids must be unique to split them")
    n = len(example_ids)
    if n < 2:
        return list(example_ids), []
    # Round half up, but keep at least one example on each side.
    size = min(max(1, math.floor(n * fraction + 0.5)), n - 1)
    ranked = sorted(example_ids, key=lambda id_: hashlib.sha256(id_.encode("utf-8")).digest())
    held_out = set(ranked[:size])
    training = [id_ for id_ in example_ids if id_ not in held_out]
    validation = [id_ for id_ in example_ids if id_ in held_out]
    return training, validation
