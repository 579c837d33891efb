"""The ssn rule: US Social Security numbers.

`123-45-6789` or `123 45 6789` standing alone, and nine digits in a row only after a label
(`SSN: 123456789`, "social security number …"); the area, group and serial must be ones
python-stdnum's `us.ssn` accepts (not 000, 666, 9xx, 00, 0000). Unlabelled nine-digit numbers,
zip+4 codes and rows of numbers are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from stdnum.us import ssn as stdnum_ssn

from bot.conversation.redaction.spans import Span

# A US Social Security number: 3-2-4 digits split by dashes or single spaces, the same both
# times, alone (not part of a longer id, a decimal, a list of numbers). Written as nine digits
# in a row, it is one only after a label (`SSN: 123456789`): unlabelled, nine digits are as
# often an order or a zip+4. python-stdnum checks the area, group and serial ranges.
_SSN = re.compile(
    r"[0-9](?<![\w./:+-][0-9])[0-9]{2}(?P<separator>[- ])[0-9]{2}(?P=separator)[0-9]{4}"
    r"(?!\w|[./:+-][0-9])"
)
_SSN_LABELLED = re.compile(
    r"(?i:(?<![^\W_])(?:ssn|ss#|social[ \t]+security)s?(?![^\W_])"
    r"[ \t)]*(?:#|no\.?|num\.?|number)?[ \t]*[:=#-]?[ \t]*\n?[ \t]*(?:is[ \t]+)?)"
    r"(?P<value>[0-9]{3}(?P<separator>[ .-]?)[0-9]{2}(?P=separator)[0-9]{4})"
    r"(?!\w|[./:+-][0-9])"
)
_NUMBER_BEFORE = re.compile(r"[0-9][ \t,]*$")
_NUMBER_AFTER = re.compile(r"[ \t,]*[0-9]")


def find_ssns(text: str) -> Iterator[Span]:
    for match in _SSN.finditer(text):
        # `100 25 1000 42` is a row of numbers; `123-45-6789` stands on its own.
        if match["separator"] == " " and (
            _NUMBER_BEFORE.search(text, max(0, match.start() - 3), match.start())
            or _NUMBER_AFTER.match(text, match.end())
        ):
            continue
        if _is_ssn(match[0]):
            yield Span(match.start(), match.end(), "ssn")
    lowered = text.lower()
    if "ssn" in lowered or "ss#" in lowered or "social" in lowered:
        for match in _SSN_LABELLED.finditer(text):
            if _is_ssn(match["value"]):
                yield Span(match.start("value"), match.end("value"), "ssn")


def _is_ssn(number: str) -> bool:
    return stdnum_ssn.is_valid(re.sub(r"[ .-]", "", number))
