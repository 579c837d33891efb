"""The phone rule: Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`, leniency VALID)
over short windows around the digit clusters that could be numbers.

Numbers written with `+` (or the region's exit code) and a country code are found whatever the
region; numbers written nationally are read as numbers of *one* region, `phone_region` (default
"US"; None = international only). Trying several regions would make far more digit strings
"valid somewhere", so a team that writes another country's national numbers sets its region
instead. Numbers dialled with `00` and a country code are found too when the region dials out
another way (the US: 011). A 10-digit order or request id that is a valid number of the region
is taken for a phone: the two can't be told apart. Digits that are a URL path segment, part of a
dotted version or an IPv4 address (`203.3.100.105`) are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import phonenumbers

from bot.conversation.redaction.spans import Span

# Seven digits at least: the shortest valid numbers (+290 1234) have that many with their
# country code, and a cluster with fewer needs no call into the matcher.
_PHONE_CLUSTER = re.compile(r"\d(?:[ \t().\-/+]*\d){6,}")
# The matcher checks one character to each side of a number (a glued letter, `%`, a currency
# sign) and takes a `(+` before it and an extension after it; each other number-like piece in a
# window costs it a parse, so windows stop there.
_PHONE_BEFORE = 4
_EXTENSION = re.compile(r"[ \t]*,?[ \t]*(?i:e?xt(?:ension|n)?\.?|x|#)[ \t]*[:.]?[ \t]*\d{1,7}")
# Dates and log timestamps, which the matcher rejects too, but only after ~0.2 ms of work each.
_DATE = re.compile(r"\d{4}-\d\d-\d\d(?:[ T]\d\d)?|\d{1,2}/\d{1,2}/\d{2,4}")
# Any region whose international prefix is `00` will do: only numbers written `00…` are kept.
_DIALS_OUT_WITH_00 = "DE"
_DIALLED_WITH_00 = re.compile(r"(?<![\w/.-])\(?00[ \t(.-]*[1-9]")
_IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?!\d|\.\d)"
)


class PhoneFinder:
    """Phone numbers as one region writes them, and international ones whatever the region."""

    def __init__(self, region: str | None) -> None:
        self.region = region
        # `00` is the international prefix of most of the world; a region that dials out with
        # another one (the US: 011) would read `0044 20 7946 0958` as nothing at all.
        self._reads_00_as_international = region is not None and bool(
            re.fullmatch(
                phonenumbers.PhoneMetadata.metadata_for_region(region).international_prefix or "",
                "00",
            )
        )

    def find(self, text: str) -> Iterator[Span]:
        # The matcher is pure Python and slow over long text (~70 ms for 20,000 characters of
        # prose), so it only reads short windows around the digit clusters that could be numbers.
        for start, end in _phone_windows(text):
            window = text[start:end]
            matches = list(
                phonenumbers.PhoneNumberMatcher(
                    window, self.region, leniency=phonenumbers.Leniency.VALID
                )
            )
            if not self._reads_00_as_international and _DIALLED_WITH_00.search(window):
                # Read again where `00` dials out; keep only numbers written that way, since
                # the helper region's own national numbers are not this team's, and grouped
                # as phone numbers are: `00352861001` is as likely a zero-padded id.
                matches += [
                    match
                    for match in phonenumbers.PhoneNumberMatcher(
                        window, _DIALS_OUT_WITH_00, leniency=phonenumbers.Leniency.VALID
                    )
                    if _DIALLED_WITH_00.match(text, start + match.start)
                    and not match.raw_string.isdigit()
                ]
            for match in matches:
                begin, end_ = start + match.start, start + match.end
                if _is_path_or_version_part(text, begin, end_):
                    continue
                if _is_part_of_an_ip_address(text, begin, end_):
                    continue
                yield Span(begin, end_, "phone")


def _phone_windows(text: str) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for cluster in _PHONE_CLUSTER.finditer(text):
        if _DATE.fullmatch(cluster[0]):
            continue
        extension = _EXTENSION.match(text, cluster.end())
        start = max(0, cluster.start() - _PHONE_BEFORE)
        end = (extension.end() if extension else cluster.end()) + 1
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


def _is_part_of_an_ip_address(text: str, start: int, end: int) -> bool:
    # `203.3.100.105` is a host, though it reads as (203) 310-0105. An address is at most 15
    # characters, so one that overlaps the number lies within 15 of it; without a dot in or
    # next to the number there is none.
    if "." not in text[max(0, start - 1) : end + 1]:
        return False
    return any(
        address.start() < end and start < address.end()
        for address in _IPV4.finditer(text, max(0, start - 15), min(len(text), end + 15))
    )


def _is_path_or_version_part(text: str, start: int, end: int) -> bool:
    # `/orders/4155552671` and `2.0.4155552671` hold valid US numbers, but there they are ids;
    # `415-555-2671/415-555-2672` is still two numbers.
    before, after = text[max(0, start - 2) : start], text[end : end + 2]
    return (
        before.endswith(".")
        or (before.endswith("/") and not before[:1].isdigit())
        or (after.startswith("/") and not after[1:].isdigit())
    )
