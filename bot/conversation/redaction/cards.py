"""The card rule: payment card numbers, checked with Luhn.

13–19 digits, alone or in groups of 3–6 split by spaces (any number), dashes or dots, mixed or
not, that pass Luhn and start with 2–6 (the banking industries: Mastercard, Amex/Diners/JCB,
Visa, Maestro, Discover/UnionPay). Numbers starting 0, 1, 7–9 (timestamps, Discord ids) are
kept, and so are versions, dates and IPs (their 1–2 digit groups end a card).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

from stdnum import luhn

from bot.conversation.redaction.spans import Span

# Whole digit groups only: not part of a word, a decimal, a path or a phone's `+`. A comma may
# touch a run (`4111…,5555…` is a list) since a price's comma groups are too short to be cards.
# Groups are split by spaces (any number; no-break ones are folded to spaces), a dash or a dot,
# mixed as people type them; a group of 1–2 digits (dates, versions, IPs) ends the card.
# The look-behind sits after the first digit so that the engine can skip quickly to digits.
_DIGIT_RUN = re.compile(
    r"[0-9](?<![\w./:+-][0-9])[0-9]*(?:(?:[ \t]*[.-]{1,2}[ \t]*|[ \t]+)[0-9]+)*(?!\w|[./:][0-9])"
)
_DIGIT_GROUP = re.compile(r"[0-9]+")
_CARD_LENGTHS = range(13, 20)
_CARD_GROUP_LENGTHS = range(3, 7)
_DOTTED_CARD_GROUP_LENGTHS = range(4, 7)
_CARD_FIRST_DIGITS = "23456"


def find_cards(text: str) -> Iterator[Span]:
    for run in _DIGIT_RUN.finditer(text):
        if len(run[0]) < _CARD_LENGTHS[0]:
            continue
        found = _card_in(run[0], list(_DIGIT_GROUP.finditer(run[0])))
        if found:
            first, last = found
            yield Span(run.start() + first.start(), run.start() + last.end(), "card")


def _card_in(run: str, groups: list[re.Match[str]]) -> tuple[re.Match[str], re.Match[str]] | None:
    """The longest card number made of whole groups: one long group, or several short ones."""
    excluded = _dotted_non_card_groups(run, groups)
    best: tuple[int, re.Match[str], re.Match[str]] | None = None
    for i, first in enumerate(groups):
        if i in excluded:
            continue
        digits = first[0]
        for j in range(i, len(groups)):
            if j > i:
                if (
                    len(groups[j][0]) not in _CARD_GROUP_LENGTHS
                    or len(first[0]) not in _CARD_GROUP_LENGTHS
                    or j in excluded
                ):
                    break
                digits += groups[j][0]
            if len(digits) > _CARD_LENGTHS[-1]:
                break
            if _is_card_number(digits) and (best is None or len(digits) > best[0]):
                best = (len(digits), first, groups[j])
    return (best[1], best[2]) if best else None


def _dotted_non_card_groups(run: str, groups: list[re.Match[str]]) -> set[int]:
    """Groups next to a dot that can't be part of a card: dotted card groups have 4–6 digits,
    while IPv4 octets (a list `203.0.113.240 203.0.113.241` would chain into 15 digits) and
    version parts have fewer, and a decimal's fraction (`0.49803921568627452`) more."""
    excluded: set[int] = set()
    for k, (before, after) in enumerate(itertools.pairwise(groups)):
        if "." in run[before.end() : after.start()]:
            excluded.update(
                index
                for index, group in ((k, before), (k + 1, after))
                if len(group[0]) not in _DOTTED_CARD_GROUP_LENGTHS
            )
    return excluded


def _is_card_number(digits: str) -> bool:
    return (
        len(digits) in _CARD_LENGTHS and digits[0] in _CARD_FIRST_DIGITS and luhn.is_valid(digits)
    )
