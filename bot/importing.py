"""Bringing a JSONL file of examples in: every line checked like `/finetune validate`, with its
line number; all or nothing unless the caller skips what is invalid; kept exactly as given.

The file is read twice, a line at a time (once to check every line, once to store), so memory
stays flat however large it is, and nothing is stored when a line is wrong.
"""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from bot.model_table import ModelTable
from bot.tokens import TokenCounter, encoding_for
from bot.validation import check_batch, problem_words
from storage.examples import ExampleStore
from storage.schemas import Example, content_id

IMPORTER = "import"  # who votes for imported examples: the operator who brought them in
BATCH = 1000
CONCURRENT_WRITES = 100


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
    duplicates: int = 0  # stored before, or earlier in the same file
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def iter_lines(path: Path, notes: list[str]) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; what was tolerated goes into `notes`."""
    blank, crlf, seen = 0, False, False
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
                notes.append("The file starts with a byte order mark; it was ignored.")
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ImportRefused(
                    f"Line {number} is not UTF-8 text (byte {error.start + 1} of the line); save "
                    "the file as UTF-8 and try again."
                ) from None
            crlf = crlf or text.endswith("\r\n")
            text = text.rstrip("\r\n")
            if not text.strip():
                blank += 1
                continue
            seen = True
            yield number, text
    if not seen:
        raise ImportRefused("The file is empty: there is nothing to import.")
    if crlf:
        notes.append("The file has Windows (CRLF) line endings; they were read as plain ones.")
    if blank:
        notes.append(f"{blank} blank line{'s were' if blank != 1 else ' was'} skipped.")


def parse(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON ({error.msg} at column {error.colno})"


def _checked(
    path: Path, model: str, table: ModelTable, notes: list[str]
) -> Iterator[tuple[int, Any, str | None, int]]:
    """(line number, example, problem or None, tokens) for each line, a batch at a time."""
    info = table.lookup(model)
    counter = TokenCounter(encoding_for(model))
    lines = iter_lines(path, notes)
    while batch := list(islice(lines, BATCH)):
        parsed = [(number, *parse(text)) for number, text in batch]
        examples = [example for _, example, problem in parsed if problem is None]
        results = iter(check_batch(examples, counter, info.max_tokens_per_example))
        for number, example, problem in parsed:
            if problem is not None:
                yield number, None, problem, 0
                continue
            kinds, tokens = next(results)
            words = "; ".join(problem_words(kind) for kind in sorted(kinds)) if kinds else None
            yield number, example, words, tokens


async def import_file(
    path: Path,
    examples: ExampleStore,
    model: str,
    table: ModelTable,
    *,
    skip_invalid: bool = False,
    progress: Callable[[int], None] = lambda lines: None,
) -> ImportReport:
    report = ImportReport()

    # Pass 1: check every line (off the event loop: it is CPU work on a whole file).
    def check() -> None:
        for number, _, problem, _ in _checked(path, model, table, report.notes):
            report.lines += 1
            if problem:
                report.problems.append(Problem(number, problem))

    await asyncio.to_thread(check)
    if report.problems and not skip_invalid:
        return report  # all or nothing: nothing is stored
    report.skipped = len(report.problems)
    # Pass 2: store the valid lines, a batch of writes at a time.
    seen: set[str] = set()
    pending = []
    for _, example, problem, tokens in _checked(path, model, table, []):
        if problem is None:
            pending.append(_store(example, tokens, examples, model, report, seen))
        if len(pending) >= CONCURRENT_WRITES:
            await asyncio.gather(*pending)
            progress(len(pending))
            pending = []
    await asyncio.gather(*pending)
    progress(len(pending))
    return report


async def _store(
    line: dict[str, Any],
    tokens: int,
    examples: ExampleStore,
    model: str,
    report: ImportReport,
    seen: set[str],
) -> None:
    messages = line["messages"]
    example_id = content_id(messages)
    if example_id in seen:
        report.duplicates += 1
        return
    seen.add(example_id)
    example = Example(
        id=example_id,
        messages=messages,
        model=model,
        source=f"import:{example_id}",
        tokens=tokens,
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
        return
    await examples.mark_imported(example.id)
