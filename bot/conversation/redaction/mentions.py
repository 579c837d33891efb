"""The mention rule, and the chat markup whose ids the card and phone rules must not take.

Slack `<@U…>`, `<@U…|name>` and Discord `<@id>`, `<@!id>` are mentions; the Redactor turns them
into `@user1`, `@user2`… by first appearance in the conversation. `@channel`, `@here`, roles
and channels are kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from bot.conversation.redaction.spans import MARKUP, Span

_MENTION = re.compile(r"<@(?:(?P<slack>[UW][A-Z0-9]{2,})(?:\|[^<>\n]*)?|!?(?P<discord>\d{15,21}))>")
# Discord roles, channels, emoji, timestamps and slash commands; Slack channels and `<!here>`.
_OTHER_MARKUP = re.compile(
    r"<(?:@&\d+|#\d+|#[CG][A-Z0-9]+(?:\|[^<>\n]*)?|a?:\w+:\d+|t:-?\d+(?::[tTdDfFR])?"
    r"|/[\w -]+:\d+|![^<>\n]*)>"
)


def find_mentions(text: str) -> Iterator[Span]:
    for match in _MENTION.finditer(text):
        person = match["slack"] or match["discord"]
        yield Span(match.start(), match.end(), "mention", person)


def find_markup(text: str, *, redact_mentions: bool) -> Iterator[Span]:
    for match in _OTHER_MARKUP.finditer(text):
        yield Span(match.start(), match.end(), MARKUP)
    if not redact_mentions:
        for match in _MENTION.finditer(text):
            yield Span(match.start(), match.end(), MARKUP)
