"""The email rule: `name@domain.tld` (plus tags, dots, subdomains, unicode) and Slack's whole
`<mailto:…|…>` markup.

Not `user@localhost` (no dot), `icon@2x.png` (asset names), `pkg@1.2.3`, or scp-style
`git@github.com:org/repo` (an SSH remote, not a mailbox). email-validator was not used: the
candidate regex already enforces what it would add for chat text, and it still accepts
`icon@2x.png`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.conversation.redaction.spans import Span

_EMAIL = re.compile(
    r"<mailto:[^<>|\s]+(?:\|[^<>\n]*)?>"  # Slack's markup goes as a whole
    r"|(?<![\w.+%-])[\w+%-]+(?:\.[\w+%-]+)*"
    r"@(?![1-9]x\.)"  # `icon@2x.png` names an image, not a mailbox
    r"(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+(?:[^\W\d_]{2,63}|xn--[a-z0-9-]{2,59})"
    r"(?![\w-])(?!:[^\s])"  # `git@github.com:org/repo` is an SSH remote
)


def find_emails(text: str) -> Iterator[Span]:
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield Span(match.start(), match.end(), "email")
