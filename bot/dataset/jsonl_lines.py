"""A JSONL file read a line at a time, within bounds: a line is read only up to a size limit
(MAX_IMPORT_LINE_BYTES), and its brackets are counted before it is parsed, so one hostile line
(60 MB, or nested 10,000 deep) is one line's error, not a process out of memory or a
RecursionError. Memory stays flat however large the file is.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

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


def read_lines(
    path: Path, notes: list[str], max_bytes: int = MAX_LINE_BYTES
) -> Iterator[tuple[int, Any, str | None]]:
    """(line number, parsed line, problem or None) of each non-blank line; a line that can't be
    read as JSON (or is longer than `max_bytes`) comes as (number, None, problem)."""
    for number, text in iter_lines(path, notes, max_bytes):
        yield number, *parse_line(text, max_bytes)


def parse_line(text: str | int, max_bytes: int) -> tuple[Any, str | None]:
    if isinstance(text, int):
        limit = f"a line may have up to {max_bytes:,} (MAX_IMPORT_LINE_BYTES)"
        return None, f"is {text:,} bytes long; {limit}"
    return parse(text)


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
