"""A JSONL file's lines checked like `/finetune validate`, with their line numbers: a batch at a
time for an import (`check_lines`), and as one dataset report for the whole file
(`check_file`), where a line that can't be read is its own kind of error (UNREADABLE)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.conversation.redaction import Redactor
from bot.dataset.example_redaction import redact_example
from bot.dataset.jsonl_lines import MAX_LINE_BYTES, iter_lines, parse_line, read_lines
from bot.dataset.tokens import TokenCounter, encoding_for
from bot.dataset.validation import (
    MAX_SAMPLES_PER_ERROR,
    DatasetReport,
    analyse_dataset,
    check_batch,
    problem_words,
)
from bot.dataset.validation.format_checks import offending_values
from bot.training.model_table import ModelTable

BATCH = 1000
# A batch also ends at this much text: parsed, 4 MB of JSON can take ten times that in objects.
BATCH_CHARS = 16 * 1024 * 1024


@dataclass(frozen=True)
class Problem:
    line: int
    text: str


def _batches(lines: Iterator[tuple[int, str | int]]) -> Iterator[list[tuple[int, str | int]]]:
    """BATCH lines at a time, or fewer when they hold BATCH_CHARS of text."""
    batch: list[tuple[int, str | int]] = []
    chars = 0
    for number, text in lines:
        batch.append((number, text))
        chars += len(text) if isinstance(text, str) else 0
        if len(batch) >= BATCH or chars >= BATCH_CHARS:
            yield batch
            batch, chars = [], 0
    if batch:
        yield batch


def check_lines(
    path: Path,
    model: str,
    table: ModelTable,
    notes: list[str],
    max_bytes: int,
    redactions: Counter[str] | None = None,
    redactor: Redactor | None = None,
) -> Iterator[tuple[int, Any, str | None, int]]:
    """(line number, example, problem or None, tokens) for each line, a batch at a time; with a
    redactor, examples are redacted first (and their tokens counted as redacted)."""
    info = table.lookup(model)
    counter = TokenCounter(encoding_for(model))
    for batch in _batches(iter_lines(path, notes, max_bytes)):
        parsed = [(number, *parse_line(text, max_bytes)) for number, text in batch]
        if redactor is not None and redactions is not None:
            for _, example, problem in parsed:
                if problem is None:
                    redactions.update(redact_example(example, redactor))
        examples = [example for _, example, problem in parsed if problem is None]
        results = iter(check_batch(examples, counter, info.max_tokens_per_example))
        for number, example, problem in parsed:
            if problem is not None:
                yield number, None, problem, 0
                continue
            kinds, tokens = next(results)
            values = offending_values(example) if kinds else {}
            words = "; ".join(problem_words(k, values.get(k)) for k in sorted(kinds)) or None
            yield number, example, words, tokens


# The error kind, in a file's report, of lines that are not JSON, nest too deep or are too long.
UNREADABLE = "unreadable_line"


@dataclass
class Unreadable:
    """Lines that could not be read: the first few with their problem, the rest counted."""

    shown: list[Problem] = field(default_factory=list)
    more: int = 0
    places: list[int] = field(default_factory=list)  # their positions among the examples

    def add(self, place: int, problem: Problem) -> None:
        if len(self.shown) < MAX_SAMPLES_PER_ERROR:
            self.shown.append(problem)
            self.places.append(place)
        else:
            self.more += 1


def check_file(
    path: Path,
    model: str,
    table: ModelTable,
    epochs: int | None,
    notes: list[str],
    max_line_bytes: int = MAX_LINE_BYTES,
) -> tuple[DatasetReport, Unreadable]:
    """A file's report as `/finetune validate` makes it, read a line at a time. Its problems
    name the file's line numbers, and a line that can't be read counts as an invalid example
    of kind UNREADABLE, with its own message (the one an import gives), not as "not a JSON
    object" as well."""
    numbers = array("I")  # each example's line number: 4 bytes a line, however many
    unreadable = Unreadable()

    def examples() -> Iterator[Any]:
        for number, example, problem in read_lines(path, notes, max_line_bytes):
            if problem is not None:
                unreadable.add(len(numbers), Problem(number, problem))
            numbers.append(number)
            yield example  # None when unreadable: "not a JSON object" to the analysis

    report = analyse_dataset(examples(), model, table, epochs, chat_dataset=False)
    errors, samples = dict(report.errors), dict(report.error_samples)
    if count := len(unreadable.shown) + unreadable.more:
        errors[UNREADABLE] = count
        samples[UNREADABLE] = unreadable.places
        errors["data_type"] -= count
        samples["data_type"] = [i for i in samples["data_type"] if i not in unreadable.places]
        if not errors["data_type"]:
            del errors["data_type"], samples["data_type"]
    samples = {kind: [numbers[i] - 1 for i in places] for kind, places in samples.items()}
    # "N examples were skipped" names positions, not lines; `errors` and `error_samples` say
    # it with line numbers (and the text report leaves that warning out).
    warnings = [warning for warning in report.warnings if "skipped:" not in warning]
    update = {"errors": errors, "error_samples": samples, "warnings": warnings}
    return report.model_copy(update=update), unreadable
