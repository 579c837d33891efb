"""Error kinds in words a person acts on: the one table of what each kind means, and the
lines that describe a report's problems."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.dataset.validation.analysis import DatasetReport

# What each kind of problem a chat example can have means; each completes "3 examples …".
# These are the kinds format_checks reports, and too_many_tokens from the model's limit.
ERROR_REASONS: dict[str, str] = {
    "data_type": "is not a JSON object",
    "unknown_example_key": (
        "has a key other than messages, tools, parallel_tool_calls or functions"
    ),
    "missing_messages_list": "has no list of messages",
    "message_missing_key": "has a message without a role or content",
    "message_unrecognized_key": "has a message with a key OpenAI does not accept",
    "unrecognized_role": (
        "has a message whose role is not system, user, assistant, tool, function or developer"
    ),
    "missing_content": "has a message with empty content",
    "example_missing_assistant_message": "has no assistant message",
    "no_trained_assistant_message": "has no assistant message with weight 1",
    "invalid_weight": "has a weight other than 0 or 1, or one on a message not the assistant's",
    "invalid_tools": "has tool definitions OpenAI would reject",
    "invalid_tool_calls": "has malformed tool calls",
    "too_many_tokens": "is longer than the model's per-example token limit",
}

# Every kind in words: the chat kinds, and those only a preference line can have.
PROBLEM_WORDS: dict[str, str] = {
    **ERROR_REASONS,
    "invalid_input": "has no `input` object with messages",
    "invalid_preferred_output": "has no single assistant message as preferred_output",
    "invalid_non_preferred_output": "has no single assistant message as non_preferred_output",
}


def problem_words(kind: str, value: str | None = None) -> str:
    """The kind in words, naming the value that caused it when there is one (`colour`)."""
    words = PROBLEM_WORDS.get(kind, kind.replace("_", " "))
    return f"{words} (`{value}`)" if value is not None else words


def describe_problems(report: DatasetReport, item: str = "example") -> list[str]:
    """One line per kind of problem, commonest first, with the first few places it occurs
    (`item` numbers counted from 1: examples in the dataset, lines in a file)."""
    kinds = sorted(report.errors, key=lambda kind: (-report.errors[kind], kind))
    lines = []
    for kind in kinds:
        count = report.errors[kind]
        places = ", ".join(str(i + 1) for i in report.error_samples.get(kind, []))
        more = "…" if count > len(report.error_samples.get(kind, [])) else ""
        words = problem_words(kind, report.error_values.get(kind))
        lines.append(f"{counted(count, item)} {words} ({item} {places}{more}).")
    return lines


def counted(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: "1 example", "3 examples"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
