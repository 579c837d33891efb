"""Replace what must never train a model (addresses, numbers, keys, people) by placeholders.

A turn goes through `Redactor.redact` before it is stored, so nothing it removes can reach a
dataset or a training provider. Only the matched characters change; the rest of the text is kept
exactly. The rules read a folded copy of the text: NFKC per character (fullwidth `＠` and
letters, no-break and narrow spaces), every Unicode decimal digit as ASCII (fullwidth `４`, `٤`,
`४`), hyphens, en dashes and minus signs as `-`, and invisible characters (zero-width space,
joiners, word joiner, BOM, soft hyphen, bidi controls, variation selectors) dropped; numbers
that are not decimal digits (`①`, `²`, `½`) stay, being bullets and exponents. Each match is
mapped back to the original characters it came from, invisible ones inside it included, so
text around a match (an emoji's joiners, a no-break space) is stored byte for byte as typed.
What each rule takes, and what it deliberately leaves alone:

- email: `name@domain.tld` (plus tags, dots, subdomains, unicode) and Slack's whole
  `<mailto:…|…>` markup. Not `user@localhost` (no dot), `icon@2x.png` (asset names),
  `pkg@1.2.3`, or scp-style `git@github.com:org/repo` (an SSH remote, not a mailbox).
- phone: Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`, leniency VALID). Numbers
  written with `+` (or the region's exit code) and a country code are found whatever the
  region; numbers written nationally are read as numbers of *one* region, `phone_region`
  (default "US"; None = international only). Trying several regions would make far more digit
  strings "valid somewhere", so a team that writes another country's national numbers sets its
  region instead. Numbers dialled with `00` and a country code are found too when the region
  dials out another way (the US: 011). A 10-digit order or request id that is a valid number of
  the region is taken for a phone: the two can't be told apart. Digits that are a URL path
  segment, part of a dotted version or an IPv4 address (`203.3.100.105`) are kept.
- card: 13–19 digits, alone or in groups of 3–6 split by spaces (any number), dashes or dots,
  mixed or not, that pass Luhn and start with 2–6 (the banking industries: Mastercard,
  Amex/Diners/JCB, Visa, Maestro, Discover/UnionPay). Numbers starting 0, 1, 7–9 (timestamps,
  Discord ids) are kept, and so are versions, dates and IPs (their 1–2 digit groups end a card).
- ssn: US Social Security numbers `123-45-6789` or `123 45 6789` standing alone, and nine
  digits in a row only after a label (`SSN: 123456789`, "social security number …"); the area,
  group and serial must be ones python-stdnum's `us.ssn` accepts (not 000, 666, 9xx, 00, 0000).
  Unlabelled nine-digit numbers, zip+4 codes and rows of numbers are kept.
- secret: known token shapes (Slack, OpenAI/Anthropic `sk-`, Stripe, AWS key ids, GitHub,
  GitLab, npm, Hugging Face, Google API keys, Google OAuth access and refresh tokens and client
  secrets, SendGrid, PyPI, DigitalOcean, Shopify, JWTs, Discord bot tokens, Slack and Discord
  webhooks, Telegram bot tokens); an AWS secret access key (40 characters of base64) within
  200 characters of an AWS key id or right after a label such as `aws_secret_access_key`;
  PEM/PGP private key blocks as one span (also when cut off before END),
  passwords in URLs, and *labelled* values: `api_key = …`, `"SecretAccessKey": "…"`,
  `Authorization: Bearer …`, `--password=…`. The label is a whole word of an identifier (key,
  token, secret, password, auth, credentials…). A password's value counts from 6 characters of
  two kinds (lower, upper, digit, symbol); other values need 16+ characters that look
  generated: a stretch of 8+ that interleaves letters and digits (or random case), so
  `user_id_12345678`, `Logitech-MX-Keys-2023` and `settings.token` stay. Unlabelled random
  strings are kept: they are as often git hashes, ids and checksums.
- iban: upper-case IBANs with or without spaces, validated by python-stdnum (country, length,
  BBAN format, mod-97), so random capitals and digits don't match.
- mention: Slack `<@U…>`, `<@U…|name>` and Discord `<@id>`, `<@!id>` become `@user1`, `@user2`…
  by first appearance in the conversation. `@channel`, `@here`, roles and channels are kept.

IP addresses are kept: in a team's chat they are mostly internal hosts that ops answers need.
Yelp's detect-secrets was measured for the secret rule and not used: its `scan_line` reports
values without positions, needs process-wide settings, flags ordinary words with its entropy
plugins unless its file-oriented filters run, and took ~5 ms per short message and ~150 ms for
20,000 characters. email-validator was not used either: the candidate regex already enforces
what it would add for chat text, and it still accepts `icon@2x.png`.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import ssn as stdnum_ssn

RULES = ("email", "phone", "card", "secret", "iban", "mention", "ssn")

# When two rules claim overlapping text, the earlier one here wins. Mentions and secrets have a
# rigid shape, so they go first; phone comes last because its matcher is the most lenient.
_PRIORITY = ("mention", "secret", "email", "iban", "ssn", "card", "phone")
# Chat markup that is never redacted yet must shield its ids from the card and phone rules.
_MARKUP = "markup"


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int]


class _Span(NamedTuple):
    start: int
    end: int
    rule: str
    person: str = ""  # the raw user id, for mentions


class Redactor:
    """Redact the chosen rules; build one per process and reuse it (its patterns are shared)."""

    def __init__(self, rules: Iterable[str] = RULES, *, phone_region: str | None = "US") -> None:
        if isinstance(rules, str):
            raise TypeError(f"rules must be a collection of rule names, not the string {rules!r}")
        chosen = set(rules)
        unknown = sorted(chosen - set(RULES))
        if unknown:
            raise ValueError(
                f"unknown redaction rule(s): {', '.join(unknown)}; known rules: {', '.join(RULES)}"
            )
        if phone_region is not None:
            phone_region = phone_region.upper()  # `REDACT_PHONE_REGION=gb` means GB
            if phone_region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"unknown phone region {phone_region!r}; use a code such as 'US'")
        self.rules = tuple(rule for rule in RULES if rule in chosen)
        self.phone_region = phone_region
        # `00` is the international prefix of most of the world; a region that dials out with
        # another one (the US: 011) would read `0044 20 7946 0958` as nothing at all.
        self._reads_00_as_international = phone_region is not None and bool(
            re.fullmatch(
                phonenumbers.PhoneMetadata.metadata_for_region(phone_region).international_prefix
                or "",
                "00",
            )
        )
        finders: dict[str, Callable[[str], Iterator[_Span]]] = {
            "mention": _find_mentions,
            "secret": _find_secrets,
            "email": _find_emails,
            "iban": _find_ibans,
            "ssn": _find_ssns,
            "card": _find_cards,
            "phone": self._find_phones,
        }
        self._finders = [finders[rule] for rule in _PRIORITY if rule in chosen]

    def redact(self, text: str, people: dict[str, str]) -> Redacted:
        """Replace every match; new people are added to `people`, which the caller keeps."""
        # The rules read a folded copy (fullwidth and other digits as ASCII, invisible characters
        # gone) and their spans are mapped back, so the stored text changes only where a match is.
        folded, origin = _fold_text(text)
        kept = _Claims()
        # Markup and mentions are found even when mentions are not redacted, so that a Discord
        # id inside `<@…>` or `<#…>` is never mistaken for a card or phone number.
        kept.claim(_find_markup(folded, redact_mentions="mention" in self.rules))
        for find in self._finders:
            kept.claim(find(folded))

        pieces: list[str] = []
        counts: Counter[str] = Counter()
        position = 0
        for span in kept.spans():
            if span.rule == _MARKUP:
                continue
            start, end = span.start, span.end
            if origin is not None:
                # From the first folded character's original to the last one's, so invisible
                # characters inside a match go with it and those around it stay.
                start, end = max(origin[start], position), origin[end - 1] + 1
                if end <= start:  # both halves of one expanded character (`½`): taken already
                    continue
            pieces.append(text[position:start])
            pieces.append(_placeholder(span, people))
            counts[span.rule] += 1
            position = end
        pieces.append(text[position:])
        return Redacted("".join(pieces), {rule: counts[rule] for rule in RULES if counts[rule]})

    def _find_phones(self, text: str) -> Iterator[_Span]:
        # The matcher is pure Python and slow over long text (~70 ms for 20,000 characters of
        # prose), so it only reads short windows around the digit clusters that could be numbers.
        for start, end in _phone_windows(text):
            window = text[start:end]
            matches = list(
                phonenumbers.PhoneNumberMatcher(
                    window, self.phone_region, leniency=phonenumbers.Leniency.VALID
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
                yield _Span(begin, end_, "phone")


def _placeholder(span: _Span, people: dict[str, str]) -> str:
    if span.rule != "mention":
        return f"[{span.rule}]"
    if span.person not in people:
        taken = set(people.values())
        number = len(people) + 1
        while f"@user{number}" in taken:  # a mapping the caller edited may have gaps
            number += 1
        people[span.person] = f"@user{number}"
    return people[span.person]


class _Claims:
    """Non-overlapping spans, in order; a span that overlaps one claimed before it is dropped."""

    def __init__(self) -> None:
        self._spans: list[_Span] = []

    def claim(self, spans: Iterable[_Span]) -> None:
        # Within one rule the earliest, then the longest, match wins.
        for span in sorted(spans, key=lambda span: (span.start, -span.end)):
            at = bisect.bisect_left(self._spans, span)
            before = self._spans[at - 1] if at else None
            after = self._spans[at] if at < len(self._spans) else None
            if (before and before.end > span.start) or (after and after.start < span.end):
                continue
            self._spans.insert(at, span)

    def spans(self) -> list[_Span]:
        return self._spans


# --- folding -------------------------------------------------------------------------------

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


def _fold_text(text: str) -> tuple[str, list[int] | None]:
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


# --- mention -------------------------------------------------------------------------------

_MENTION = re.compile(r"<@(?:(?P<slack>[UW][A-Z0-9]{2,})(?:\|[^<>\n]*)?|!?(?P<discord>\d{15,21}))>")
# Discord roles, channels, emoji, timestamps and slash commands; Slack channels and `<!here>`.
_OTHER_MARKUP = re.compile(
    r"<(?:@&\d+|#\d+|#[CG][A-Z0-9]+(?:\|[^<>\n]*)?|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?"
    r"|/[\w -]+:\d+|![^<>\n]*)>"
)


def _find_mentions(text: str) -> Iterator[_Span]:
    for match in _MENTION.finditer(text):
        person = match["slack"] or match["discord"]
        yield _Span(match.start(), match.end(), "mention", person)


def _find_markup(text: str, *, redact_mentions: bool) -> Iterator[_Span]:
    for match in _OTHER_MARKUP.finditer(text):
        yield _Span(match.start(), match.end(), _MARKUP)
    if not redact_mentions:
        for match in _MENTION.finditer(text):
            yield _Span(match.start(), match.end(), _MARKUP)


# --- email ---------------------------------------------------------------------------------

_EMAIL = re.compile(
    r"<mailto:[^<>|\s]+(?:\|[^<>\n]*)?>"  # Slack's markup goes as a whole
    r"|(?<![\w.+%-])[\w+%-]+(?:\.[\w+%-]+)*"
    r"@(?![1-9]x\.)"  # `icon@2x.png` names an image, not a mailbox
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{2,59})"
    r"(?![\w-])(?!:[^\s])"  # `git@github.com:org/repo` is an SSH remote
)


def _find_emails(text: str) -> Iterator[_Span]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield _Span(match.start(), match.end(), "email")


# --- phone ---------------------------------------------------------------------------------

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


# --- card ----------------------------------------------------------------------------------

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


def _find_cards(text: str) -> Iterator[_Span]:
    for run in _DIGIT_RUN.finditer(text):
        if len(run[0]) < _CARD_LENGTHS[0]:
            continue
        found = _card_in(run[0], list(_DIGIT_GROUP.finditer(run[0])))
        if found:
            first, last = found
            yield _Span(run.start() + first.start(), run.start() + last.end(), "card")


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


# --- ssn -----------------------------------------------------------------------------------

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


def _find_ssns(text: str) -> Iterator[_Span]:
    for match in _SSN.finditer(text):
        # `100 25 1000 42` is a row of numbers; `123-45-6789` stands on its own.
        if match["separator"] == " " and (
            _NUMBER_BEFORE.search(text, max(0, match.start() - 3), match.start())
            or _NUMBER_AFTER.match(text, match.end())
        ):
            continue
        if _is_ssn(match[0]):
            yield _Span(match.start(), match.end(), "ssn")
    lowered = text.lower()
    if "ssn" in lowered or "ss#" in lowered or "social" in lowered:
        for match in _SSN_LABELLED.finditer(text):
            if _is_ssn(match["value"]):
                yield _Span(match.start("value"), match.end("value"), "ssn")


def _is_ssn(number: str) -> bool:
    return stdnum_ssn.is_valid(re.sub(r"[ .-]", "", number))


# --- iban ----------------------------------------------------------------------------------

# Country code, check digits, then the BBAN with or without single spaces. As for cards, the
# look-behind follows the first character to keep the scan fast.
_IBAN_CANDIDATE = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}[A-Z0-9]*(?!\w)(?: [A-Z0-9]+(?!\w)){0,12}"
)
_IBAN_GROUP = re.compile(r"[A-Z0-9]+")
_IBAN_LENGTHS = range(15, 35)


def _find_ibans(text: str) -> Iterator[_Span]:
    for candidate in _IBAN_CANDIDATE.finditer(text):
        if len(candidate[0]) < _IBAN_LENGTHS[0]:
            continue
        # The candidate may run on into capitals after the IBAN ("… 00 THANKS"): take the longest
        # valid prefix made of whole groups.
        groups = list(_IBAN_GROUP.finditer(candidate[0]))
        for last in range(len(groups) - 1, -1, -1):
            compact = "".join(group[0] for group in groups[: last + 1])
            if len(compact) in _IBAN_LENGTHS and _is_iban(compact):
                yield _Span(candidate.start(), candidate.start() + groups[last].end(), "iban")
                break


def _is_iban(compact: str) -> bool:
    # Country, length, BBAN structure and mod-97, without the national checks: those look the
    # bank up in a bundled registry (Belgium's, for one) and would let new banks' IBANs through.
    return stdnum_iban.is_valid(compact, check_country=False)


# --- secret --------------------------------------------------------------------------------


def _has_digit(value: str) -> bool:
    return any(char.isdigit() for char in value)


def _kind(char: str) -> str:
    if char.isalpha():
        return "upper" if char.isupper() else "lower"
    return "digit" if char.isdigit() else "symbol"


def _looks_like_password(value: str) -> bool:
    return len(value) >= 6 and len({_kind(char) for char in value}) >= 2


_SEPARATORS = re.compile(r"[-_.:]+")


def _looks_random(value: str) -> bool:
    """Names and numbers keep words and digits apart ("user_id_12345678", "Keys-2023");
    generated keys interleave them ("3f9a1c0b…", "K7MDENG")."""
    if len(value) < 16 or _entropy(value) < 2.5:
        return False
    return any(_segment_looks_random(segment) for segment in _SEPARATORS.split(value))


def _segment_looks_random(segment: str) -> bool:
    if len(segment) < 8:
        return False
    has_letter = any(char.isalpha() for char in segment)
    if has_letter and _has_digit(segment):
        return True
    if not has_letter:
        return False
    # Letters alone: random case, not CamelCase words (two switches per word).
    switches = sum(a.isupper() != b.isupper() for a, b in itertools.pairwise(segment))
    return len(segment) >= 16 and switches >= 0.45 * (len(segment) - 1)


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


# Values that name a secret instead of holding one: `$TOKEN`, `${TOKEN}`, `<your-key>`,
# `os.getenv(`, `settings.token`, `********`.
_REFERENCE = re.compile(r"[$%<{]|.*[(\[{]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+$|(.)\1*$")


def _is_not_a_reference(value: str) -> bool:
    return not _REFERENCE.match(value)


def _is_discord_token(token: str) -> bool:
    # A bot token starts with the bot's user id in base64; checking that keeps dotted
    # identifiers of the same shape.
    user_id = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(user_id + "=" * (-len(user_id) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit() and 15 <= len(decoded) <= 21


class _SecretShape(NamedTuple):
    # The pattern only runs when one of the hints is in the text (or always, with no hints): a
    # substring test is far cheaper than a regex scan, and most messages hold no token at all.
    hints: tuple[str, ...]
    pattern: re.Pattern[str]
    group: int | str = 0  # the part that is the secret; 0 is the whole match
    looks_secret: Callable[[str], bool] = _has_digit
    # A token never starts inside a word ("task-list" holds no "sk-"). Checked here rather than
    # by a look-behind, which would slow the pattern's scan for its literal start.
    starts_a_word: bool = True


_END = r"(?![\w-])"
_AWS_KEY_ID_HINTS = ("AKIA", "ASIA", "ABIA", "ACCA")
_AWS_KEY_ID = re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")
_PRIVATE_KEY = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

# Every generated token holds a digit somewhere, which keeps out long words that happen to
# follow a prefix (`sk-this-is-only-a-css-class-name`).
_SECRET_SHAPES = (
    _SecretShape(
        ("PRIVATE KEY",),
        re.compile(
            _PRIVATE_KEY + r".*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            # a key pasted without its END line still leaks: take its base64 lines
            r"|" + _PRIVATE_KEY + r"(?:\s*[A-Za-z0-9+/=:,-]{16,})*",
            re.DOTALL,
        ),
        starts_a_word=False,
    ),
    _SecretShape(("xox",), re.compile(r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    _SecretShape(("xoxe", "xapp"), re.compile(r"(?:xoxe\.xox[bp]|xoxe|xapp)-\d-[A-Za-z0-9-]{10,}")),
    _SecretShape(
        ("hooks.slack.com",),
        re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+"),
    ),
    _SecretShape(
        ("/api/webhooks/",),
        re.compile(r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]+"),
    ),
    _SecretShape(("sk-",), re.compile(r"sk-[A-Za-z0-9_-]{20,}")),  # OpenAI, Anthropic
    _SecretShape(("_live_", "_test_"), re.compile(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    _SecretShape(("whsec_",), re.compile(r"whsec_[A-Za-z0-9]{24,}")),
    _SecretShape(_AWS_KEY_ID_HINTS, _AWS_KEY_ID),
    _SecretShape(
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"), re.compile(r"gh[pousr]_[A-Za-z0-9]{36,}")
    ),
    _SecretShape(("github_pat_",), re.compile(r"github_pat_[A-Za-z0-9_]{22,}")),
    _SecretShape(("glpat-",), re.compile(r"glpat-[A-Za-z0-9_-]{20,}")),
    _SecretShape(("npm_",), re.compile(r"npm_[A-Za-z0-9]{36}" + _END)),
    _SecretShape(("hf_",), re.compile(r"hf_[A-Za-z0-9]{30,}")),
    _SecretShape(("AIza",), re.compile(r"AIza[0-9A-Za-z_-]{35}" + _END)),
    # Google OAuth: access tokens, refresh tokens, client secrets.
    _SecretShape(
        ("ya29.",),
        re.compile(r"ya29\.[0-9A-Za-z_-]+(?:\.[0-9A-Za-z_-]+)*" + _END),
        looks_secret=lambda token: len(token) >= 25 and _has_digit(token[5:]),
    ),
    _SecretShape(("1//0",), re.compile(r"1//0[0-9A-Za-z_-]{40,}" + _END)),
    _SecretShape(("GOCSPX-",), re.compile(r"GOCSPX-[0-9A-Za-z_-]{28}" + _END)),
    # SendGrid
    _SecretShape(("SG.",), re.compile(r"SG\.[0-9A-Za-z_-]{22}\.[0-9A-Za-z_-]{43}" + _END)),
    _SecretShape(("pypi-",), re.compile(r"pypi-AgE[0-9A-Za-z_-]{50,}")),
    _SecretShape(("_v1_",), re.compile(r"do[opr]_v1_[0-9a-f]{64}" + _END)),  # DigitalOcean
    _SecretShape(("shp",), re.compile(r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32}" + _END)),  # Shopify
    _SecretShape(
        ("eyJ",), re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
    ),
    # Discord bot tokens: the user id in base64 (it starts M, N or O), a dot, 6, a dot, 27+.
    _SecretShape(
        (),
        re.compile(r"[MNO][A-Za-z0-9_-]{22,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}" + _END),
        looks_secret=_is_discord_token,
    ),
    _SecretShape((":AA",), re.compile(r"[0-9]{8,10}:AA[A-Za-z0-9_-]{33}" + _END)),  # Telegram
    _SecretShape(
        ("earer", "EARER"),
        re.compile(r"(?i:bearer)[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)"),
        "value",
        _looks_random,
    ),
    # `scheme://user:password@host`: only the password goes.
    _SecretShape(
        ("://",),
        re.compile(r"://[^\s/:@]+:(?P<value>[^\s/@]+)@"),
        "value",
        _is_not_a_reference,
        starts_a_word=False,
    ),
)


def _find_secrets(text: str) -> Iterator[_Span]:
    for shape in _SECRET_SHAPES:
        if shape.hints and not any(hint in text for hint in shape.hints):
            continue
        for match in shape.pattern.finditer(text):
            if shape.starts_a_word and not _starts_a_word(text, match.start()):
                continue
            if shape.looks_secret(match[shape.group]):
                yield _Span(match.start(shape.group), match.end(shape.group), "secret")
    yield from _find_aws_secret_keys(text)
    yield from _find_labelled_secrets(text)


# An AWS secret access key is 40 characters of base64 with no prefix of its own, so alone it
# can't be told from any other id. It is taken next to what gives it away: an access key id
# (AKIA…, ASIA…) within a few lines, or a label (`aws_secret_access_key`, `SecretAccessKey`,
# "secret key is …") just before it.
_AWS_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_AWS_SECRET_LABEL = re.compile(r"(?i:secret[ _-]?(?:access[ _-]?)?key)")
_AWS_SECRET_HINTS = (*_AWS_KEY_ID_HINTS, "ecret", "ECRET")
# What may stand between a label and its value: quotes, `=`, `:`, spaces, one "is".
_AWS_LABEL_GAP = re.compile(r"[\"'`]?[ \t]*(?:=>|[:=]|is)?[ \t]*[\"'`]?")
_AWS_NEAR = 200


def _find_aws_secret_keys(text: str) -> Iterator[_Span]:
    if not any(hint in text for hint in _AWS_SECRET_HINTS):
        return
    key_ids = [(match.start(), match.end()) for match in _AWS_KEY_ID.finditer(text)]
    label_ends = {match.end() for match in _AWS_SECRET_LABEL.finditer(text)}
    if not key_ids and not label_ends:
        return
    for match in _AWS_SECRET_KEY.finditer(text):
        if not _looks_like_aws_secret_key(match[0]):
            continue
        start, end = match.span()
        near_a_key_id = any(
            key_start - end <= _AWS_NEAR and start - key_end <= _AWS_NEAR
            for key_start, key_end in key_ids
        )
        if near_a_key_id or any(
            (gap := _AWS_LABEL_GAP.match(text, label_end)) and gap.end() == start
            for label_end in label_ends
            if label_end <= start
        ):
            yield _Span(start, end, "secret")


def _looks_like_aws_secret_key(value: str) -> bool:
    # Generated base64: both cases and a digit or `/`, `+`; not a hex hash or a path.
    return (
        any(char.isupper() for char in value)
        and any(char.islower() for char in value)
        and any(char.isdigit() or char in "/+" for char in value)
        and not value.startswith("/")
        and "//" not in value
    )


def _starts_a_word(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_-")


# A label (an identifier, perhaps quoted or a `--flag`), an assignment, a value.
_LABELLED = re.compile(
    r"(?<![\w.-])(?P<label>-{0,2}[A-Za-z_][\w.-]*)[\"']?[ \t]*(?::=|=>|[:=])[ \t]*"
    r"(?:(?i:bearer|basic|token)[ \t]+)?"
    r"(?P<quote>[\"'`]?)(?P<value>[^\s\"'`]+)"
)
# Searched in an ASCII-lowered copy of the text (same length, so the same positions): scanning
# every identifier with `_LABELLED` would cost milliseconds on a long message.
_LABEL_HINT = re.compile(rb"key|token|secret|pass|pwd|auth|credential")
_LABEL_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase"})
# Whole words of the label, so `monkey`, `keyboard`, `tokenizer` and `max_tokens` don't count.
_KEY_WORDS = frozenset(
    {
        "key",
        "apikey",
        "secretkey",
        "accesskey",
        "privatekey",
        "token",
        "authtoken",
        "accesstoken",
        "secret",
        "credential",
        "credentials",
        "auth",
        "authorization",
    }
)
# A sentence may end right after an unquoted value; `!` and `?` are left on, being as likely
# the password's own last character.
_TRAILING_PUNCTUATION = ".,;:)]}>"


def _find_labelled_secrets(text: str) -> Iterator[_Span]:
    lowered = text.encode("ascii", "replace").lower()
    label_start, taken_until = -1, 0
    for hint in _LABEL_HINT.finditer(lowered):
        start = hint.start()
        if start < taken_until:
            continue
        while start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        if start == label_start:  # `secret_key` holds two hints
            continue
        label_start = start
        match = _LABELLED.match(text, start)
        if match and (span := _labelled_secret(match)):
            taken_until = span.end
            yield span


def _labelled_secret(match: re.Match[str]) -> _Span | None:
    words = {word.lower() for word in _LABEL_WORDS.findall(match["label"])}
    is_password = bool(words & _PASSWORD_WORDS)
    if not is_password and not words & _KEY_WORDS:
        return None
    value, end = match["value"], match.end("value")
    if not match["quote"]:
        stripped = value.rstrip(_TRAILING_PUNCTUATION)
        end -= len(value) - len(stripped)
        value = stripped
    if _REFERENCE.match(value):
        return None
    if not (_looks_like_password(value) if is_password else _looks_random(value)):
        return None
    return _Span(match.start("value"), end, "secret")
