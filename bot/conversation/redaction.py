"""Replace what must never train a model (addresses, numbers, keys, people) by placeholders.

A turn goes through `Redactor.redact` before it is stored, so nothing it removes can reach a
dataset or a training provider. Only the matched characters change; the rest of the text is kept
exactly. What each rule takes, and what it deliberately leaves alone:

- email: `name@domain.tld` (plus tags, dots, subdomains, unicode) and Slack's whole
  `<mailto:…|…>` markup. Not `user@localhost` (no dot), `icon@2x.png` (asset names),
  `pkg@1.2.3`, or scp-style `git@github.com:org/repo` (an SSH remote, not a mailbox).
- phone: Google's libphonenumber (`phonenumbers.PhoneNumberMatcher`, leniency VALID). Numbers
  written with `+` and a country code are found whatever the region; numbers written nationally
  are read as numbers of *one* region, `phone_region` (default "US"; None = international only).
  Trying several regions would make far more digit strings "valid somewhere", so a team that
  writes national numbers of another country sets its own region instead.
- card: 13–19 digits, alone or in groups of 3–6 split by single spaces or dashes, that pass
  Luhn and start with 2–6 (the banking industries: Mastercard, Amex/Diners/JCB, Visa,
  Maestro, Discover/UnionPay). Numbers starting 0, 1, 7–9 (timestamps, Discord ids) are kept.
- secret: known token shapes (Slack, OpenAI/Anthropic `sk-`, Stripe, AWS key ids, GitHub,
  GitLab, npm, Hugging Face, Google, JWTs, Discord bot tokens, Slack and Discord webhooks,
  Telegram bot tokens), PEM/PGP private key blocks as one span (also when cut off before END),
  passwords in URLs, and *labelled* values: `api_key = …`, `"SecretAccessKey": "…"`,
  `Authorization: Bearer …`, `DB_PASS=…`. A labelled value counts when it looks random: for
  password labels 6+ characters of two kinds (letters, digits, symbols); for key/token/secret
  labels 16+ characters with a digit or mixed case, Shannon entropy >= 3 bits and frequent
  switches between character kinds, so `user_id_12345678` or `settings.token` stay. Unlabelled
  random strings are kept: they are as often git hashes, ids and checksums.
- iban: upper-case IBANs with or without spaces, validated by python-stdnum (country, length,
  format, mod-97), so random capitals and digits don't match.
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
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn

RULES = ("email", "phone", "card", "secret", "iban", "mention")

# When two rules claim overlapping text, the earlier one here wins. Mentions and secrets have a
# rigid shape, so they go first; phone comes last because its matcher is the most lenient.
_PRIORITY = ("mention", "secret", "email", "iban", "card", "phone")
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
        if phone_region is not None and phone_region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {phone_region!r}; use a code such as 'US'")
        self.rules = tuple(rule for rule in RULES if rule in chosen)
        self.phone_region = phone_region
        finders: dict[str, Callable[[str], Iterator[_Span]]] = {
            "mention": _find_mentions,
            "secret": _find_secrets,
            "email": _find_emails,
            "iban": _find_ibans,
            "card": _find_cards,
            "phone": self._find_phones,
        }
        self._finders = [finders[rule] for rule in _PRIORITY if rule in chosen]

    def redact(self, text: str, people: dict[str, str]) -> Redacted:
        """Replace every match; new people are added to `people`, which the caller keeps."""
        kept = _Claims()
        # Markup and mentions are found even when mentions are not redacted, so that a Discord
        # id inside `<@…>` or `<#…>` is never mistaken for a card or phone number.
        kept.claim(_find_markup(text, redact_mentions="mention" in self.rules))
        for find in self._finders:
            kept.claim(find(text))

        pieces: list[str] = []
        counts: Counter[str] = Counter()
        position = 0
        for span in kept.spans():
            if span.rule == _MARKUP:
                continue
            pieces.append(text[position : span.start])
            pieces.append(_placeholder(span, people))
            counts[span.rule] += 1
            position = span.end
        pieces.append(text[position:])
        return Redacted("".join(pieces), {rule: counts[rule] for rule in RULES if counts[rule]})

    def _find_phones(self, text: str) -> Iterator[_Span]:
        # The matcher is pure Python and slow over long text (~70 ms for 20,000 characters), so it
        # only reads short windows around digit clusters that could be a number. The margin keeps
        # the context it checks (a letter glued to the digits, an "ext. 12" after them).
        for start, end in _phone_windows(text):
            for match in phonenumbers.PhoneNumberMatcher(
                text[start:end], self.phone_region, leniency=phonenumbers.Leniency.VALID
            ):
                yield _Span(start + match.start, start + match.end, "phone")


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

_PHONE_CLUSTER = re.compile(r"\d[\d \t().\-/+]*\d")
_PHONE_MIN_DIGITS = 6  # the shortest valid numbers, country code included, have 7
_PHONE_MARGIN = 20


def _phone_windows(text: str) -> list[tuple[int, int]]:
    windows: list[tuple[int, int]] = []
    for match in _PHONE_CLUSTER.finditer(text):
        if sum(char.isdigit() for char in match[0]) < _PHONE_MIN_DIGITS:
            continue
        start, end = max(0, match.start() - _PHONE_MARGIN), match.end() + _PHONE_MARGIN
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], end)
        else:
            windows.append((start, end))
    return windows


# --- card ----------------------------------------------------------------------------------

# Whole digit groups only: not part of a word, a decimal, a price, a path or a phone's `+`.
_DIGIT_RUN = re.compile(r"(?<![\w.,/:+-])[0-9]+(?:[ -][0-9]+)*(?!\w|[.,/:][0-9])")
_CARD_LENGTHS = range(13, 20)
_CARD_GROUP_LENGTHS = range(3, 7)
_CARD_FIRST_DIGITS = "23456"


def _find_cards(text: str) -> Iterator[_Span]:
    for run in _DIGIT_RUN.finditer(text):
        groups = list(re.finditer(r"[0-9]+", run[0]))
        found = _card_in(groups)
        if found:
            first, last = found
            yield _Span(run.start() + first.start(), run.start() + last.end(), "card")


def _card_in(groups: list[re.Match[str]]) -> tuple[re.Match[str], re.Match[str]] | None:
    """The longest card number made of whole groups: one long group, or several short ones."""
    best: tuple[int, re.Match[str], re.Match[str]] | None = None
    for i, first in enumerate(groups):
        digits = first[0]
        for j in range(i, len(groups)):
            if j > i:
                if (
                    len(groups[j][0]) not in _CARD_GROUP_LENGTHS
                    or len(first[0]) not in _CARD_GROUP_LENGTHS
                ):
                    break
                digits += groups[j][0]
            if len(digits) > _CARD_LENGTHS[-1]:
                break
            if _is_card_number(digits) and (best is None or len(digits) > best[0]):
                best = (len(digits), first, groups[j])
    return (best[1], best[2]) if best else None


def _is_card_number(digits: str) -> bool:
    return (
        len(digits) in _CARD_LENGTHS and digits[0] in _CARD_FIRST_DIGITS and luhn.is_valid(digits)
    )


# --- iban ----------------------------------------------------------------------------------

_IBAN_CANDIDATE = re.compile(
    r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}[A-Z0-9]*(?!\w)(?: [A-Z0-9]+(?!\w)){0,12}"
)
_IBAN_LENGTHS = range(15, 35)


def _find_ibans(text: str) -> Iterator[_Span]:
    for candidate in _IBAN_CANDIDATE.finditer(text):
        # The candidate may run on into capitals after the IBAN ("… 00 THANKS"): take the longest
        # valid prefix made of whole groups.
        groups = list(re.finditer(r"[A-Z0-9]+", candidate[0]))
        for last in range(len(groups) - 1, -1, -1):
            compact = "".join(group[0] for group in groups[: last + 1])
            if len(compact) in _IBAN_LENGTHS and stdnum_iban.is_valid(compact):
                end = candidate.start() + groups[last].end()
                yield _Span(candidate.start(), end, "iban")
                break


# --- secret --------------------------------------------------------------------------------


class _SecretShape(NamedTuple):
    pattern: re.Pattern[str]
    group: int | str = 0  # the part that is the secret; 0 is the whole match
    looks_secret: Callable[[str], bool] = lambda value: True


def _has_digit(value: str) -> bool:
    return any(char.isdigit() for char in value)


def _is_discord_token(token: str) -> bool:
    # A bot token starts with the bot's user id in base64; checking that keeps dotted
    # identifiers of the same shape.
    user_id = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(user_id + "=" * (-len(user_id) % 4))
    except (binascii.Error, ValueError):
        return False
    return decoded.isdigit() and 15 <= len(decoded) <= 21


_START = r"(?<![\w-])"  # a token never starts inside a word: "task-list" holds no "sk-"
_END = r"(?![\w-])"
_PRIVATE_KEY = r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"

_SECRET_SHAPES = (
    _SecretShape(
        re.compile(
            _PRIVATE_KEY + r".*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
            # a key pasted without its END line still leaks: take its base64 lines
            r"|" + _PRIVATE_KEY + r"(?:\s*[A-Za-z0-9+/=:,-]{16,})*",
            re.DOTALL,
        )
    ),
    _SecretShape(re.compile(_START + r"xox[abposre]-[A-Za-z0-9-]{10,}")),
    _SecretShape(re.compile(_START + r"(?:xoxe\.xox[bp]|xoxe|xapp)-\d-[A-Za-z0-9-]{10,}")),
    _SecretShape(re.compile(r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[\w/-]+")),
    _SecretShape(
        re.compile(r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/\d+/[\w-]+")
    ),
    _SecretShape(re.compile(_START + r"sk-[A-Za-z0-9_-]{20,}"), 0, _has_digit),
    _SecretShape(re.compile(_START + r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")),
    _SecretShape(re.compile(_START + r"whsec_[A-Za-z0-9]{24,}")),
    _SecretShape(re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")),
    _SecretShape(re.compile(_START + r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,}")),
    _SecretShape(re.compile(_START + r"github_pat_[A-Za-z0-9_]{22,}")),
    _SecretShape(re.compile(_START + r"glpat-[A-Za-z0-9_-]{20,}")),
    _SecretShape(re.compile(_START + r"npm_[A-Za-z0-9]{36}" + _END)),
    _SecretShape(re.compile(_START + r"hf_[A-Za-z0-9]{30,}"), 0, _has_digit),
    _SecretShape(re.compile(_START + r"AIza[0-9A-Za-z_-]{35}" + _END)),
    _SecretShape(
        re.compile(_START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
    ),
    _SecretShape(
        re.compile(_START + r"[A-Za-z0-9_-]{23,28}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}" + _END),
        0,
        _is_discord_token,
    ),
    _SecretShape(re.compile(r"(?<![\w:])\d{8,10}:AA[A-Za-z0-9_-]{33}" + _END)),  # Telegram bot
    # `scheme://user:password@host`: only the password goes.
    _SecretShape(re.compile(r"://[^\s/:@]+:(?P<value>[^\s/@]+)@"), "value"),
)

# An identifier, an optional closing quote, an assignment, an optional opening quote, a value.
_LABELLED = re.compile(
    r"(?<![\w.-])(?P<label>[A-Za-z_][\w.-]*)[\"']?[ \t]*(?::=|=>|[:=])[ \t]*"
    r"(?:(?i:bearer|basic|token)[ \t]+)?"
    r"(?P<quote>[\"'`]?)(?P<value>[^\s\"'`]+)"
)
_BEARER = re.compile(r"(?<![\w-])(?i:bearer)[ \t]+(?P<value>[A-Za-z0-9._~+/-]{16,}=*)")
_LABEL_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_PASSWORD_WORDS = frozenset({"password", "passwd", "pwd", "pass", "passphrase"})
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
# Values that name a secret instead of holding one: `$TOKEN`, `${TOKEN}`, `<your-key>`,
# `os.getenv(`, `settings.token`, `********`.
_REFERENCE = re.compile(r"[$%<{]|.*[(\[{]|[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+$|(.)\1*$")
_TRAILING_PUNCTUATION = ".,;:!?)]}>"


def _find_secrets(text: str) -> Iterator[_Span]:
    for shape in _SECRET_SHAPES:
        for match in shape.pattern.finditer(text):
            if shape.looks_secret(match[0]):
                yield _Span(match.start(shape.group), match.end(shape.group), "secret")
    for match in _BEARER.finditer(text):
        if _looks_random(match["value"]):
            yield _Span(match.start("value"), match.end("value"), "secret")
    yield from _find_labelled_secrets(text)


def _find_labelled_secrets(text: str) -> Iterator[_Span]:
    position = 0
    while match := _LABELLED.search(text, position):
        # A value may itself hold a label (`config: api_key=…`), so the search goes on from the
        # value unless the value was taken.
        position = match.start("value")
        words = {word.lower() for word in _LABEL_WORDS.findall(match["label"])}
        is_password = bool(words & _PASSWORD_WORDS)
        if not is_password and not words & _KEY_WORDS:
            continue
        value, end = match["value"], match.end("value")
        if not match["quote"]:
            stripped = value.rstrip(_TRAILING_PUNCTUATION)
            end -= len(value) - len(stripped)
            value = stripped
        if _REFERENCE.match(value):
            continue
        if _looks_like_password(value) if is_password else _looks_random(value):
            yield _Span(match.start("value"), end, "secret")
            position = end


def _character_kinds(value: str) -> list[int]:
    return [0 if c.islower() else 1 if c.isupper() else 2 if c.isdigit() else 3 for c in value]


def _looks_like_password(value: str) -> bool:
    return len(value) >= 6 and len(set(_character_kinds(value))) >= 2


def _looks_random(value: str) -> bool:
    """Generated keys mix kinds of characters all the way through; names and ids do not."""
    if len(value) < 16:
        return False
    kinds = _character_kinds(value)
    if not (_has_digit(value) or {0, 1} <= set(kinds)):
        return False
    switches = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False)) / (len(kinds) - 1)
    return switches >= 0.3 and _entropy(value) >= 3.0


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
