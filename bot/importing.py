"""Bringing a JSONL file of examples in: every line checked like `/finetune validate`, with its
line number; all or nothing unless the caller skips what is invalid; kept exactly as given."""

from __future__ import annotations

import codecs
import json
from dataclasses import dataclass, field
from typing import Any

from bot.model_table import ModelTable
from bot.tokens import count_messages
from bot.validation import analyse_dataset, example_errors, problem_words
from storage.examples import ExampleStore
from storage.schemas import Example, content_id

IMPORTER = "import"  # who votes for imported examples: the operator who brought them in


class ImportRefused(ValueError):
    """The file can't be read as JSONL at all; the message is one sentence."""


@dataclass(frozen=True)
class Problem:
    line: int
    text: str


@dataclass
class ImportReport:
    lines: int = 0  # non-blank lines read
    added: int = 0
    updated: int = 0  # stored before with other weights
    duplicates: int = 0
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def imported(self) -> bool:
        return bool(self.added or self.updated)


def read_jsonl(data: bytes) -> tuple[list[tuple[int, str]], list[str]]:
    """(line number, text) of each non-blank line, and notes on what was tolerated."""
    notes = []
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
        notes.append("The file starts with a byte order mark; it was ignored.")
    if not data.strip():
        raise ImportRefused("The file is empty: there is nothing to import.")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise ImportRefused(
            f"Line {line} is not UTF-8 text (byte {error.start + 1} of the file); save the file "
            "as UTF-8 and try again."
        ) from None
    if "\r\n" in text:
        notes.append("The file has Windows (CRLF) line endings; they were read as plain ones.")
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    blank = len(text.splitlines()) - len(numbered)
    if blank:
        notes.append(f"{blank} blank line{'s were' if blank != 1 else ' was'} skipped.")
    return numbered, notes


def parse_lines(
    numbered: list[tuple[int, str]], model: str, table: ModelTable
) -> tuple[list[tuple[int, dict[str, Any]]], list[Problem]]:
    """The lines that are valid examples for `model`, and a problem for each one that is not."""
    parsed: list[tuple[int, Any]] = []
    problems = []
    for number, line in numbered:
        try:
            parsed.append((number, json.loads(line)))
        except json.JSONDecodeError as error:
            reason = f"is not valid JSON ({error.msg} at column {error.colno})"
            problems.append(Problem(number, reason))
    kept: list[Any] = []
    analyse_dataset([example for _, example in parsed], model, table, keep=kept)
    trainable = {id(example) for example in kept}
    valid = []
    for number, example in parsed:
        if id(example) in trainable:
            valid.append((number, example))
            continue
        kinds = sorted(example_errors(example)) or ["too_many_tokens"]
        problems.append(Problem(number, "; ".join(problem_words(kind) for kind in kinds)))
    problems.sort(key=lambda problem: problem.line)
    return valid, problems


async def import_examples(
    data: bytes,
    examples: ExampleStore,
    model: str,
    table: ModelTable,
    *,
    skip_invalid: bool = False,
) -> ImportReport:
    numbered, notes = read_jsonl(data)
    valid, problems = parse_lines(numbered, model, table)
    report = ImportReport(lines=len(numbered), problems=problems, notes=notes)
    if problems and not skip_invalid:
        return report  # all or nothing: nothing is stored
    report.skipped = len(problems)
    for _, line in valid:
        await _store(line, examples, model, report)
    return report


async def _store(line: dict[str, Any], examples: ExampleStore, model: str, report: ImportReport):
    messages = line["messages"]
    example = Example(
        id=content_id(messages),
        messages=messages,
        model=model,
        source=f"import:{content_id(messages)}",
        tokens=count_messages(messages, model),
        origin="import",
        extra={key: value for key, value in line.items() if key != "messages"},
    )
    stored = await examples.get(example.id)
    if stored is None:
        await examples.vote(example, IMPORTER, "0")
        report.added += 1
    elif stored.messages != messages or stored.extra != example.extra:
        # The same conversation with other weights: the file says how it should train.
        changes = {"messages": messages, "origin": "import", "extra": example.extra}
        await examples.replace(stored.model_copy(update=changes))
        report.updated += 1
    else:
        report.duplicates += 1
