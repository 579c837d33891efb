"""Bringing a JSONL file of examples in: every line checked like `/finetune validate`, with its
line number; all or nothing unless the caller skips what is invalid; kept as given, except that
what people wrote is redacted like chat when a redactor is passed (REDACT_PII).

The file is read twice, a line at a time (once to check every line, once to store), so memory
stays flat however large it is, and nothing is stored when a line is wrong.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.conversation.redaction import Redactor
from bot.dataset.file_checks import Problem, check_lines
from bot.dataset.jsonl_lines import MAX_LINE_BYTES
from bot.training.model_table import ModelTable
from storage.examples import ExampleStore
from storage.schemas import Example, content_id

IMPORTER = "import"  # who votes for imported examples: the operator who brought them in
CONCURRENT_WRITES = 100


@dataclass
class ImportReport:
    lines: int = 0  # non-blank lines read
    added: int = 0
    updated: int = 0  # stored before with other weights
    duplicates: int = 0  # stored before, or earlier in the same file
    skipped: int = 0
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    redactions: Counter[str] = field(default_factory=Counter)  # by rule, in what was stored


async def import_file(
    path: Path,
    examples: ExampleStore,
    model: str,
    table: ModelTable,
    *,
    skip_invalid: bool = False,
    progress: Callable[[int], None] = lambda lines: None,
    redactor: Redactor | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> ImportReport:
    report = ImportReport()

    # Pass 1: check every line (off the event loop: it is CPU work on a whole file).
    def check() -> None:
        for number, _, problem, _ in check_lines(path, model, table, report.notes, max_line_bytes):
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
    stored = check_lines(path, model, table, [], max_line_bytes, report.redactions, redactor)
    for _, example, problem, tokens in stored:
        if problem is None:
            pending.append(_store(example, tokens, examples, model, report, seen))
        if len(pending) >= CONCURRENT_WRITES:
            await asyncio.gather(*pending)
            progress(len(pending))
            pending = []
    await asyncio.gather(*pending)
    progress(len(pending))
    await examples.count_redactions(sum(report.redactions.values()))
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
