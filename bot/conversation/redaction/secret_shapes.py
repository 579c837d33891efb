"""The secret rule: tokens known by their shape, AWS secret keys by what stands near them, and
values after a label (labelled_secrets).

Known shapes: Slack, OpenAI/Anthropic `sk-`, Stripe, AWS key ids, GitHub, GitLab, npm, Hugging
Face, Google API keys, Google OAuth access and refresh tokens and client secrets, SendGrid,
PyPI, DigitalOcean, Shopify, JWTs, Discord bot tokens, Slack and Discord webhooks, Telegram bot
tokens; PEM/PGP private key blocks as one span (also when cut off before END), and passwords in
URLs. An AWS secret access key (40 characters of base64) is taken within 200 characters of an
AWS key id or right after a label such as `aws_secret_access_key`. Unlabelled random strings
are kept: they are as often git hashes, ids and checksums.

Yelp's detect-secrets was measured for this rule and not used: its `scan_line` reports values
without positions, needs process-wide settings, flags ordinary words with its entropy plugins
unless its file-oriented filters run, and took ~5 ms per short message and ~150 ms for 20,000
characters.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import NamedTuple

from bot.conversation.redaction.labelled_secrets import (
    find_labelled_secrets,
    has_digit,
    is_not_a_reference,
    looks_random,
)
from bot.conversation.redaction.spans import Span


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
    looks_secret: Callable[[str], bool] = has_digit
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
        looks_secret=lambda token: len(token) >= 25 and has_digit(token[5:]),
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
        looks_random,
    ),
    # `scheme://user:password@host`: only the password goes.
    _SecretShape(
        ("://",),
        re.compile(r"://[^\s/:@]+:(?P<value>[^\s/@]+)@"),
        "value",
        is_not_a_reference,
        starts_a_word=False,
    ),
)


def find_secrets(text: str) -> Iterator[Span]:
    for shape in _SECRET_SHAPES:
        if shape.hints and not any(hint in text for hint in shape.hints):
            continue
        for match in shape.pattern.finditer(text):
            if shape.starts_a_word and not _starts_a_word(text, match.start()):
                continue
            if shape.looks_secret(match[shape.group]):
                yield Span(match.start(shape.group), match.end(shape.group), "secret")
    yield from _find_aws_secret_keys(text)
    yield from find_labelled_secrets(text)


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


def _find_aws_secret_keys(text: str) -> Iterator[Span]:
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
            yield Span(start, end, "secret")


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
