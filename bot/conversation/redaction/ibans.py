"""The iban rule: upper-case IBANs with or without spaces, validated by python-stdnum (country,
length, BBAN format, mod-97), so random capitals and digits don't match."""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum import iban as stdnum_iban

from bot.conversation.redaction.spans import Span

# Country code, check digits, then the BBAN with or without single spaces. As for cards, the
# look-behind follows the first character to keep the scan fast.
_IBAN_CANDIDATE = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}[A-Z0-9]*(?!\w)(?: [A-Z0-9]+(?!\w)){0,12}"
)
_IBAN_GROUP = re.compile(r"[A-Z0-9]+")
_IBAN_LENGTHS = range(15, 35)


def find_ibans(text: str) -> Iterator[Span]:
    for candidate in _IBAN_CANDIDATE.finditer(text):
        if len(candidate[0]) < _IBAN_LENGTHS[0]:
            continue
        # The candidate may run on into capitals after the IBAN ("… 00 THANKS"): take the longest
        # valid prefix made of whole groups.
        groups = list(_IBAN_GROUP.finditer(candidate[0]))
        for last in range(len(groups) - 1, -1, -1):
            compact = "".join(group[0] for group in groups[: last + 1])
            if len(compact) in _IBAN_LENGTHS and _is_iban(compact):
                yield Span(candidate.start(), candidate.start() + groups[last].end(), "iban")
                break


def _is_iban(compact: str) -> bool:
    # Country, length, BBAN structure and mod-97, without the national checks: those look the
    # bank up in a bundled registry (Belgium's, for one) and would let new banks' IBANs through.
    return stdnum_iban.is_valid(compact, check_country=False)
