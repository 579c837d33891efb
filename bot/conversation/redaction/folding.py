"""Folding: the copy of a message the rules read, and where each of its characters came from.

Each character is read in its NFKC form (fullwidth `＠` and letters, no-break and narrow
spaces), every Unicode decimal digit as ASCII (fullwidth `４`, `٤`, `४`), hyphens, en dashes and
minus signs as `-`, and invisible characters (zero-width space, joiners, word joiner, BOM, soft
hyphen, bidi controls, variation selectors) dropped; numbers that are not decimal digits (`①`,
`²`, `½`) stay, being bullets and exponents.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata

# Characters that show as nothing, so they can hide inside an address or a number: format
# characters (soft hyphen, zero-width space, non-joiner and joiner, LRM/RLM and the other bidi
# controls, word joiner, invisible operators, BOM, tags), the combining grapheme joiner,
# variation selectors, Hangul and Khmer fillers, the Mongolian vowel separator.
_INVISIBLE = (
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\U000e0000-\U000e0fff"
)
# Hyphens, the figure and en dashes and the minus sign read as `-` (NFKC keeps them); the em
# dash, a sentence's punctuation, does not.
_DASHES = "\u2010\u2011\u2012\u2013\u2212"
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
# What NFKC leaves that folding changes: `\d` finds the other scripts' decimal digits.
_FOLDED_BEYOND_NFKC = re.compile(f"[{_INVISIBLE}{_DASHES}]|\\d")
_INVISIBLE_CHAR = re.compile(f"[{_INVISIBLE}]")


def fold_text(text: str) -> tuple[str, list[int] | None]:
    """The text the rules read, and the original index of each of its characters (None when
    it is the text itself, as for any ASCII message)."""
    if text.isascii():
        return text, None
    changed: list[int] = []
    for run in _NON_ASCII_RUN.finditer(text):
        _find_changed(text, run.start(), run.end(), changed)
    if not changed:
        return text, None
    pieces: list[str] = []
    origin: list[int] = []
    done = 0
    for index in changed:
        folded = _fold(text[index])
        pieces.append(text[done:index])
        origin.extend(range(done, index))
        pieces.append(folded)
        origin.extend(itertools.repeat(index, len(folded)))
        done = index + 1
    pieces.append(text[done:])
    origin.extend(range(done, len(text)))
    return "".join(pieces), origin


def _find_changed(text: str, start: int, end: int, changed: list[int]) -> None:
    """Add the indexes of the characters that fold to something else, in order. Halving a
    stretch until its pieces are stable keeps a long message with a few such characters (a
    Japanese paragraph with one fullwidth number) from being read character by character."""
    piece = text[start:end]
    if unicodedata.is_normalized("NFKC", piece) and not _FOLDED_BEYOND_NFKC.search(piece):
        return  # accented letters, CJK, most emoji
    if end - start <= 16:
        changed.extend(index for index in range(start, end) if _fold(text[index]) != text[index])
        return
    middle = (start + end) // 2
    _find_changed(text, start, middle, changed)
    _find_changed(text, middle, end, changed)


@functools.lru_cache(maxsize=4096)
def _fold(char: str) -> str:
    """One character as the rules read it: its NFKC form (fullwidth `４`, `＠` and no-break
    spaces become `4`, `@` and spaces), every decimal digit in ASCII (`٤` is `4`), dashes as
    `-`, and nothing for an invisible character. Numbers that are not decimal digits stay as
    they are: `①②③` are list bullets and `²` an exponent, not the digits of a number."""
    if _INVISIBLE_CHAR.match(char):
        return ""
    if char.isdecimal():
        return str(unicodedata.decimal(char))
    if char.isnumeric():
        return char
    return "".join(
        "-" if folded in _DASHES else folded for folded in unicodedata.normalize("NFKC", char)
    )
