"""What a rule finds (a `Span` of the folded text) and how overlapping finds are settled."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import NamedTuple

# Chat markup that is never redacted yet must shield its ids from the card and phone rules.
MARKUP = "markup"


class Span(NamedTuple):
    start: int
    end: int
    rule: str
    person: str = ""  # the raw user id, for mentions


class Claims:
    """Non-overlapping spans, in order; a span that overlaps one claimed before it is dropped."""

    def __init__(self) -> None:
        self._spans: list[Span] = []

    def claim(self, spans: Iterable[Span]) -> None:
        # Within one rule the earliest, then the longest, match wins.
        for span in sorted(spans, key=lambda span: (span.start, -span.end)):
            at = bisect.bisect_left(self._spans, span)
            before = self._spans[at - 1] if at else None
            after = self._spans[at] if at < len(self._spans) else None
            if (before and before.end > span.start) or (after and after.start < span.end):
                continue
            self._spans.insert(at, span)

    def spans(self) -> list[Span]:
        return self._spans
