"""Bringing a JSONL file of examples in: every line checked like `/finetune validate`, with its
line number; all or nothing unless the caller skips what is invalid; kept as given, except that
what people wrote is redacted like chat when a redactor is passed (REDACT_PII).

The file is read twice, a line at a time (once to check every line, once to store), so memory
stays flat however large it is, and nothing is stored when a line is wrong. A line is read only
up to a size limit, and its brackets are counted before it is parsed, so one hostile line (60 MB,
or nested 10,000 deep) is one line's error, not a process out of memory or a RecursionError.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import re
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from bot.conversation.redaction import Redactor
from bot.dataset.tokens import TokenCounter, encoding_for
from bot.dataset.validation import (
    MAX_SAMPLES_PER_ERROR,
    DatasetReport,
    analyse_dataset,
    check_batch,
    problem_words,
)
from bot.training.model_table import ModelTable
from storage.examples import ExampleStore
from storage.schemas import Example, content_id

IMPORTER = "import"  # who votes for imported examples: the operator who brought them in
BATCH = 1000
# A batch also ends at this much text: parsed, 4 MB of JSON can take ten times that in objects.
BATCH_CHARS = 16 * 1024 * 1024
CONCURRENT_WRITES = 100
# A chat example nests 5 or 6 levels (messages, a message, tool calls, a call, its function) and
# a tool's JSON schema a few more; parsing, checking and counting each recurse once per level.
MAX_DEPTH = 64
TOO_DEEP = f"is nested too deeply (more than {MAX_DEPTH} levels of brackets)"
# The default of MAX_IMPORT_LINE_BYTES: an OpenAI example is at most ~65k tokens, ~300 KB of
# text, so 4 MB leaves room for tool schemas and non-Latin text.
MAX_LINE_BYTES = 4 * 1024 * 1024
SKIP_CHUNK_BYTES = 1024 * 1024  # how an over-long line is read past


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
    redactions: Counter[str] = field(default_factory=Counter)  # by rule, in what was stored


def read_lines(
    path: Path, notes: list[str], max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed line, problem or None) of each non-blank line; a line that can't be
    read as JSON (or is longer than `max_bytes`) comes as (number, None, problem)."""
    for number, text in iter_lines(path, notes, max_bytes):
        yield number, *_parse_line(text, max_bytes)


def _parse_line(text: str | int, max_bytes: int) -> tuple[Any, str | None]:
    if isinstance(text, int):
        limit = f"a line may have up to {max_bytes:,} (MAX_IMPORT_LINE_BYTES)"
        return None, f"is {text:,} bytes long; {limit}"
    return parse(text)


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


def _bounded_lines(file: BinaryIO, max_bytes: int) -> Iterator[bytes | int]:
    """Each line's bytes, or the length of a line longer than `max_bytes`: that one is read
    past a chunk at a time and never held whole."""
    while raw := file.readline(max_bytes + 1):
        if len(raw) <= max_bytes or raw.endswith(b"\n"):
            yield raw
            continue
        size = len(raw)
        while not raw.endswith(b"\n") and (raw := file.readline(SKIP_CHUNK_BYTES)):
            size += len(raw)
        yield size - raw.endswith(b"\n")  # the line, without its end


def iter_lines(
    path: Path, notes: list[str], max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, str | int]]:
    """(line number, text) of each non-blank line, or (line number, its length in bytes) for a
    line longer than `max_bytes`; what was tolerated goes into `notes`."""
    blank, crlf, seen = 0, False, False
    with path.open("rb") as file:
        for number, raw in enumerate(_bounded_lines(file, max_bytes), start=1):
            if isinstance(raw, int):
                seen = True
                yield number, raw
                continue
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


class _NotJson(ValueError):
    pass


def _refuse_constant(name: str) -> None:
    # Python's json reads NaN and Infinity; JSON has no such numbers and OpenAI rejects them.
    raise _NotJson(f"{name} is not a JSON value")


_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# `\ud800` with no partner decodes to a lone surrogate, which can't be written as UTF-8.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse(text: str) -> tuple[Any, str | None]:
    """A line's JSON value, or None and what is wrong with it."""
    if _too_deep(text):
        return None, TOO_DEEP
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as error:
        return None, f"is not valid JSON ({error.msg} at column {error.colno})"
    except _NotJson as error:
        return None, f"is not valid JSON ({error})"
    except ValueError:  # Python refuses to read an integer of more than 4,300 digits
        return None, "is not valid JSON (a number is too long)"
    except RecursionError:  # not reached past _too_deep; kept so a line can never crash a run
        return None, TOO_DEEP
    if _SURROGATE_ESCAPE.search(text) and not _is_unicode(value):
        return None, "is not valid JSON (a \\u escape is half of a surrogate pair)"
    return value, None


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH. Counting them is cheap and
    bounded; json.loads and every walk over what it returns recurse once per level."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        depth += 1 if bracket in "[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _is_unicode(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def redact_example(example: Any, redactor: Redactor) -> Counter[str]:
    """Redact, in place, what people and the model wrote in an example, as chat does before it
    stores a turn: text content and text parts, refusals, tool-call arguments. One conversation
    shares one set of `@userN` placeholders. Returns the redactions made, by rule."""
    counts: Counter[str] = Counter()
    people: dict[str, str] = {}

    def redact(text: str) -> str:
        redacted = redactor.redact(text, people)
        counts.update(redacted.counts)
        return redacted.text

    messages = example.get("messages") if isinstance(example, dict) else None
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        for key in ("content", "refusal"):
            if isinstance(message.get(key), str):
                message[key] = redact(message[key])
        content = message.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                part["text"] = redact(part["text"])
        functions = [message.get("function_call")]
        if isinstance(calls := message.get("tool_calls"), list):
            functions += [call.get("function") for call in calls if isinstance(call, dict)]
        for function in functions:
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                function["arguments"] = _redact_arguments(function["arguments"], redact)
    return counts


def _redact_arguments(text: str, redact: Callable[[str], str]) -> str:
    """Arguments are JSON text: their string values are redacted, so they stay JSON (a value
    redacted in the raw text could take a quote or a digit string with it)."""
    value, problem = parse(text)
    if problem is not None or not isinstance(value, dict | list):
        return redact(text)
    changed = False

    def walk(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, str):
            redacted = redact(node)
            changed = changed or redacted != node
            return redacted
        if isinstance(node, dict):
            return {key: walk(item) for key, item in node.items()}
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    redacted = walk(value)  # as deep as `parse` allows, no deeper
    return json.dumps(redacted, ensure_ascii=False) if changed else text


def _checked(
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
        parsed = [(number, *_parse_line(text, max_bytes)) for number, text in batch]
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
            words = "; ".join(problem_words(kind) for kind in sorted(kinds)) if kinds else None
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

    report = analyse_dataset(examples(), model, table, epochs)
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
        for number, _, problem, _ in _checked(path, model, table, report.notes, max_line_bytes):
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
    stored = _checked(path, model, table, [], max_line_bytes, report.redactions, redactor)
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
