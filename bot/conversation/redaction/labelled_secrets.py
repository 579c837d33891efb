"""Labelled secrets (`api_key = …`, `"SecretAccessKey": "…"`, `Authorization: Bearer …`,
`--password=…`) and what a value must look like to be taken for a secret.

The label is a whole word of an identifier (key, token, secret, password, auth,
credentials…). A password's value counts from 6 characters of two kinds (lower, upper, digit,
symbol); other values need 16+ characters that look generated: a stretch of 8+ that interleaves
letters and digits (or random case), so `user_id_12345678`, `Logitech-MX-Keys-2023` and
`settings.token` stay.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Iterator

from bot.conversation.redaction.spans import Span


def has_digit(value: str) -> bool:
    return any(char.isdigit() for char in value)


def _kind(char: str) -> str:
    if char.isalpha():
        return "upper" if char.isupper() else "lower"
    return "digit" if char.isdigit() else "symbol"


def _looks_like_password(value: str) -> bool:
    return len(value) >= 6 and len({_kind(char) for char in value}) >= 2


_SEPARATORS = re.compile(r"[-_.:]+")


def looks_random(value: str) -> bool:
    """Names and numbers keep words and digits apart ("user_id_12345678", "Keys-2023");
    generated keys interleave them ("3f9a1c0b…", "K7MDENG")."""
    if len(value) < 16 or _entropy(value) < 2.5:
        return False
    return any(_segment_looks_random(segment) for segment in _SEPARATORS.split(value))


def _segment_looks_random(segment: str) -> bool:
    if len(segment) < 8:
        return False
    has_letter = any(char.isalpha() for char in segment)
    if has_letter and has_digit(segment):
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


def is_not_a_reference(value: str) -> bool:
    return not _REFERENCE.match(value)


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


def find_labelled_secrets(text: str) -> Iterator[Span]:
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


def _labelled_secret(match: re.Match[str]) -> Span | None:
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
    if not (_looks_like_password(value) if is_password else looks_random(value)):
        return None
    return Span(match.start("value"), end, "secret")
