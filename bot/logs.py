"""Logging set-up: one line per event, and no secret ever written, whoever logs it.

Libraries log request bodies at DEBUG (slack_sdk does), and a person may paste a token into
the chat, so secrets are removed where every log record is made, not in each call site.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Slack tokens, OpenAI-style keys, webhook secrets and Discord bot tokens (base64 user id,
# timestamp and signature, dot-separated), as people paste them.
SECRET_PATTERN = re.compile(
    r"(xox[abposre]-|xapp-|sk-|whsec_)[A-Za-z0-9_\-+/=]{8,}"
    r"|[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}"
)
REDACTED = "[redacted]"

_known: set[str] = set()
_installed = False


def redact_secrets(secrets: Iterable[str] = ()) -> None:
    """Scrub secrets from every log record from now on; `secrets` adds exact values."""
    global _installed
    _known.update(secret for secret in secrets if len(secret) >= 6)
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def scrubbed(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        text = record.getMessage()
        clean = _scrub(text)
        if clean != text:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(scrubbed)


def _scrub(text: str) -> str:
    for secret in _known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return SECRET_PATTERN.sub(REDACTED, text)
