"""What the fake stores and records: messages, attachments, the bot's REST calls, and the
interactions tests inject."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.discord.protocol import EPHEMERAL


@dataclass
class HostedGuild:
    """A guild (server) the fake hosts; its id is also its @everyone role's id."""

    id: int
    name: str
    channel_id: int  # its text channel, where injected actions land by default
    bot_role_id: int  # the bot's managed role in it


@dataclass
class RecordedRequest:
    """One REST request; `path` is relative to the API root (e.g. /channels/1/messages)."""

    method: str
    path: str
    at: float
    status: int | None = None
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: list[str] = field(default_factory=list)


@dataclass
class Attachment:
    id: int
    filename: str
    content: bytes
    content_type: str
    description: str | None = None


@dataclass
class StoredMessage:
    """A message as the fake holds it; `edits` starts with the creation."""

    id: int
    channel_id: int
    guild_id: int | None
    author: dict[str, Any]
    content: str
    embeds: list[dict[str, Any]]
    attachments: list[Attachment]
    flags: int
    type: int
    message_reference: dict[str, Any] | None
    edits: list[tuple[float, str]]
    created_at: datetime.datetime
    mentions: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    webhook_id: int | None = None
    interaction_id: int | None = None
    nonce: str | int | None = None
    edited_at: datetime.datetime | None = None
    deleted: bool = False
    thread_id: int | None = None
    # emoji key ("👍" or "name:id") -> (emoji payload, user ids who reacted)
    reactions: dict[str, tuple[dict[str, Any], set[int]]] = field(default_factory=dict)

    @property
    def author_id(self) -> int:
        return int(self.author["id"])

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def reply_to(self) -> int | None:
        """Id of the message this one replies to, if any."""
        ref = self.message_reference
        return int(ref["message_id"]) if ref and ref.get("message_id") else None


@dataclass
class TypingCall:
    channel_id: int
    at: float


@dataclass
class BotReaction:
    """A reaction the bot added (PUT) or removed (DELETE) over REST."""

    channel_id: int
    message_id: int
    emoji: str
    added: bool
    at: float


@dataclass
class CommandSync:
    """One bulk overwrite (PUT) of application commands; guild_id None = global."""

    guild_id: int | None
    commands: list[dict[str, Any]]
    at: float


@dataclass
class InteractionCallback:
    interaction_id: int
    token: str
    type: int
    data: dict[str, Any]
    files: list[tuple[str, bytes]]
    at: float


@dataclass
class Followup:
    """A followup message; `replaced_original` when it filled a deferred response."""

    interaction_id: int
    token: str
    message_id: int
    content: str
    flags: int
    embeds: list[dict[str, Any]]
    files: list[tuple[str, bytes]]
    at: float
    replaced_original: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)


@dataclass
class Invocation:
    """An injected interaction; pass it (or its id) to the *_of helpers."""

    id: int
    token: str
    payload: dict[str, Any]


@dataclass
class InteractionState:
    """An injected interaction as the fake tracks it: where it happened and how it was answered."""

    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user: dict[str, Any]
    name: str
    created: float
    message_id: int | None = None  # the message a component sits on
    acked: int | None = None
    original_id: int | None = None
    message_ids: list[int] = field(default_factory=list)
