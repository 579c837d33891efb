"""Preference (DPO) training files: the format of OpenAI's preference fine-tuning reference
(`input.messages`, one assistant message each in `preferred_output` and
`non_preferred_output`), checked and counted like the supervised file."""

from __future__ import annotations

from typing import Any

from bot.dataset.validation import (
    MIN_EXAMPLES,
    DatasetReport,
    analyse_dataset,
    example_errors,
    few_examples_advice,
)
from bot.training.model_table import ModelTable

PAIR_KEYS = frozenset({"input", "preferred_output", "non_preferred_output"})
INPUT_KEYS = frozenset({"messages", "tools", "parallel_tool_calls"})


def pair_errors(line: Any) -> set[str]:
    """The error kinds of one preference line; empty when it has OpenAI's format."""
    if not isinstance(line, dict):
        return {"data_type"}
    errors = set()
    if set(line) - PAIR_KEYS:
        errors.add("unknown_example_key")
    given = line.get("input")
    if not isinstance(given, dict) or set(given) - INPUT_KEYS:
        return errors | {"invalid_input"}
    messages = given.get("messages")
    if not isinstance(messages, list) or not messages:
        return errors | {"missing_messages_list"}
    for key in ("preferred_output", "non_preferred_output"):
        if not _one_assistant_answer(line.get(key)):
            errors.add(f"invalid_{key}")
    if not errors:
        errors |= example_errors({"messages": [*messages, *line["preferred_output"]]})
    return errors


def _one_assistant_answer(output: Any) -> bool:
    if not isinstance(output, list) or len(output) != 1 or not isinstance(output[0], dict):
        return False
    content = output[0].get("content")
    return output[0].get("role") == "assistant" and isinstance(content, str) and bool(content)


def analyse_pairs(
    lines: list[dict[str, Any]],
    model: str,
    table: ModelTable,
    epochs: int | None = None,
    keep: list[dict[str, Any]] | None = None,
) -> DatasetReport:
    """The supervised report, over each pair's input and both answers (what DPO trains on)."""
    shaped = [_counted(line) for line in lines]
    kept: list[Any] = []
    report = analyse_dataset(shaped, model, table, epochs, kept)
    if keep is not None:
        by_shape = {id(shape): line for shape, line in zip(shaped, lines, strict=True)}
        keep.extend(by_shape[id(shape)] for shape in kept)
    # The supervised advice ("approve more replies") does not fit pairs; the rest stays.
    warnings = [w for w in report.warnings if w != few_examples_advice(report.trainable)]
    if report.trainable >= MIN_EXAMPLES:
        return report.model_copy(update={"warnings": warnings})
    missing = MIN_EXAMPLES - report.trainable
    refusal = (
        f"There are {report.trainable} usable preference pairs; preference training needs at "
        f"least {MIN_EXAMPLES}, so improve {missing} more bot "
        f'{"reply" if missing == 1 else "replies"} first (the message\'s "Improve this reply").'
    )
    return report.model_copy(update={"refusal": refusal, "warnings": warnings})


def _counted(line: Any) -> Any:
    """A pair as one conversation for the shared checks and token counts; a malformed pair as
    something those checks reject."""
    if pair_errors(line):
        return None
    messages = line["input"]["messages"]
    return {"messages": [*messages, *line["preferred_output"], *line["non_preferred_output"]]}
