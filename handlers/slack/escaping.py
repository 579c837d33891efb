"""Text for Slack: what the model or a person wrote never becomes a ping or a disguised link.

Slack reads `<…>` in message `text` and mrkdwn as a control sequence (`<!channel>`, `<@U123>`,
`<https://evil.example|https://slack.com/signin>`) and wants `&`, `<` and `>` written as `&amp;`,
`&lt;` and `&gt;` when they are meant as themselves. Only these three change: *bold* and `code`
stay. plain_text fields show entities literally, so nothing for them goes through here.

The core's results and sentences are platform-free and unescaped (Discord and the terminal show
them as they are); the Slack front end escapes them here, at the edge, and adds its own markup
(mentions of people it verified, `<!date^…>`) around or after the escaped text.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import TypeVar

from pydantic import BaseModel

T = TypeVar("T")

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SPECIAL = re.compile("[&<>]")
# A mention as the core writes it (`<@U123>`, `<#C123>`), once escaped; the id is Slack's.
_ESCAPED_MENTION = re.compile(r"&lt;([@#])([A-Z0-9]+)&gt;")

# The person a handler acts for (a user id Slack signed), for sentences the core says elsewhere
# while doing it: an admin's click on "Promote" announces "<@them> promoted …" in the thread.
_acting_for: ContextVar[str | None] = ContextVar("slack_acting_for", default=None)


def escape(text: str) -> str:
    """`text` as Slack shows it literally in message text and mrkdwn."""
    return _SPECIAL.sub(lambda found: _ENTITIES[found[0]], text)


def escaped(value: T) -> T:
    """A copy of a core result (a record, a dataclass, lists and dicts of them) with every
    text in it escaped, for the wording functions to lay out with the bot's own markup."""
    if isinstance(value, str):
        return escape(value) if _SPECIAL.search(value) else value
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return value.model_copy(update={name: escaped(getattr(value, name)) for name in fields})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            field.name: escaped(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if field.init
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(escaped(item) for item in value)
    if isinstance(value, dict):
        return {escaped(key): escaped(item) for key, item in value.items()}
    return value


def escape_sentence(
    text: str, *, people: Iterable[str | None] = (), channels: Iterable[str | None] = ()
) -> str:
    """A sentence the core wrote, escaped, keeping its mentions of these people and channels
    and of whoever the handler is `acting_for`, only: ids Slack verified (who asked, the
    admins, where they asked), never ones that came in with a model name, a prompt or a
    provider's error."""
    kept = {("@", person) for person in (*people, _acting_for.get()) if person}
    kept |= {("#", channel) for channel in channels if channel}

    def mention(found: re.Match[str]) -> str:
        kind, id_ = found[1], found[2]
        return f"<{kind}{id_}>" if (kind, id_) in kept else found[0]

    return _ESCAPED_MENTION.sub(mention, escape(text))


@contextlib.contextmanager
def acting_for(user: str) -> Iterator[None]:
    """While a handler does what `user` asked: the core's sentences may mention them."""
    token = _acting_for.set(user)
    try:
        yield
    finally:
        _acting_for.reset(token)


def fitting(text: str, limit: int) -> int:
    """How many characters of `text` fit in `limit` characters once escaped."""
    if len(text) + 4 * len(_SPECIAL.findall(text)) <= limit:
        return len(text)
    size = 0
    for count, char in enumerate(text):
        size += len(_ENTITIES.get(char, char))
        if size > limit:
            return count
    return len(text)


def escape_within(text: str, limit: int) -> str:
    """`text` escaped in at most `limit` characters, ended by … when it had to be cut (never
    inside an entity)."""
    if fitting(text, limit) == len(text):
        return escape(text)
    return escape(text[: fitting(text, limit - 1)]) + "…"
