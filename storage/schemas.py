"""Pydantic models at the storage boundary: turns and examples."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class MessageKey:
    """A message on one front end: its platform, channel and id (Slack's ts, Discord's id)."""

    platform: str
    channel: str
    id: str

    @property
    def _scope(self) -> str:
        # Slack's keys and refs predate the other front ends; they keep their unscoped form so
        # stored turns, votes and approved-reply refs stay valid.
        return "" if self.platform == "slack" else f"{self.platform}:"

    @property
    def ref(self) -> str:
        """`C1|1700000000.000100` (Slack) or `discord:123|456`: how votes name a reply."""
        return f"{self._scope}{self.channel}|{self.id}"

    @property
    def path(self) -> str:
        """The same, as a Redis key suffix."""
        return f"{self._scope}{self.channel}:{self.id}"


@dataclass(frozen=True)
class MetricPoint:
    """One training step's losses, as a backend reports them (validation loss only some steps)."""

    step: int
    train_loss: float | None = None
    valid_loss: float | None = None


class Turn(BaseModel):
    """One bot reply: exactly what the model saw, what it answered, and where it was posted."""

    platform: str = "slack"
    team: str
    channel: str
    # The conversation this turn belongs to: Slack's thread, Discord's thread or DM channel, or
    # the message that started a reply chain.
    thread_ts: str
    ts: str
    # A reply split over several messages (Discord's length limit): the ids after the first.
    part_ids: list[str] = Field(default_factory=list)
    user: str
    model: str
    messages: list[dict[str, Any]]
    reply: str
    # Refs (`channel|ts`) of the earlier bot replies that appear as assistant messages in
    # `messages`, in order, so an approved earlier reply can keep its training weight.
    history_refs: list[str] = Field(default_factory=list)
    # The person's message this turn answers, and provenance for deletion and consent: the refs
    # of every message whose text is in this turn, and the people who wrote them.
    asked: str = ""
    message_refs: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    # Redaction's stable placeholders for people mentioned in this conversation (`<@U1>` -> @user1).
    placeholders: dict[str, str] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def key(self) -> MessageKey:
        return MessageKey(self.platform, self.channel, self.ts)

    @property
    def ref(self) -> str:
        return self.key.ref

    @property
    def provenance_refs(self) -> list[str]:
        """Every message this turn holds text of (older turns knew only their reply)."""
        return self.message_refs or [self.ref]

    @property
    def part_keys(self) -> list[MessageKey]:
        return [MessageKey(self.platform, self.channel, part) for part in self.part_ids]


def reply_ref(channel: str, ts: str) -> str:
    """A Slack reply's ref."""
    return MessageKey("slack", channel, ts).ref


class Example(BaseModel):
    """A training example: the conversation a turn sent to the model plus the approved reply."""

    id: str
    messages: list[dict[str, Any]]
    history_refs: list[str] = Field(default_factory=list)
    model: str
    source: str
    tokens: int = 0
    message_refs: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    # "chat": approved in a conversation (weights decided at export); "import": brought in from
    # a file by an operator, kept and exported exactly as given, weights included.
    origin: str = "chat"
    # An imported line's other keys (`tools`, `parallel_tool_calls`), exported with it.
    extra: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def is_imported(self) -> bool:
        return self.origin == "import"

    @classmethod
    def from_turn(cls, turn: Turn, tokens: int = 0, reply: str | None = None) -> Example:
        """The turn's conversation with its reply (or a person's correction of it)."""
        text = turn.reply if reply is None else reply
        messages = [*turn.messages, {"role": "assistant", "content": text}]
        return cls(
            id=content_id(messages),
            messages=messages,
            history_refs=turn.history_refs,
            model=turn.model,
            source=turn.ref if reply is None else correction_ref(turn.ref),
            tokens=tokens,
            message_refs=turn.provenance_refs,
            people=turn.people or [turn.user],
        )


def correction_ref(ref: str) -> str:
    """How votes name a correction of the reply `ref`: no platform message has this ref."""
    return f"correction:{ref}"


class PreferencePair(BaseModel):
    """A person's judgement that one answer to a conversation beats another (DPO data)."""

    id: str
    input: list[dict[str, Any]]  # the messages the model saw
    preferred: str
    non_preferred: str
    by: str
    source: str  # the reply it was made from
    message_refs: list[str] = Field(default_factory=list)
    people: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)


def content_id(messages: list[dict[str, Any]]) -> str:
    """Identical conversations share one id, whoever approved them and wherever."""
    canonical = json.dumps(
        [{k: v for k, v in m.items() if k != "weight"} for m in messages],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
