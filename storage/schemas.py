"""Pydantic models at the storage boundary: turns and examples."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Turn(BaseModel):
    """One bot reply: exactly what the model saw, what it answered, and where it was posted."""

    platform: str = "slack"
    team: str
    channel: str
    thread_ts: str
    ts: str
    user: str
    model: str
    messages: list[dict[str, Any]]
    reply: str
    # Refs (`channel|ts`) of the earlier bot replies that appear as assistant messages in
    # `messages`, in order, so an approved earlier reply can keep its training weight.
    history_refs: list[str] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def ref(self) -> str:
        return reply_ref(self.channel, self.ts)


def reply_ref(channel: str, ts: str) -> str:
    return f"{channel}|{ts}"


class Example(BaseModel):
    """A training example: the conversation a turn sent to the model plus the approved reply."""

    id: str
    messages: list[dict[str, Any]]
    history_refs: list[str] = Field(default_factory=list)
    model: str
    source: str
    tokens: int = 0
    created_at: datetime = Field(default_factory=utcnow)

    @classmethod
    def from_turn(cls, turn: Turn, tokens: int = 0) -> Example:
        messages = [*turn.messages, {"role": "assistant", "content": turn.reply}]
        return cls(
            id=content_id(messages),
            messages=messages,
            history_refs=turn.history_refs,
            model=turn.model,
            source=turn.ref,
            tokens=tokens,
        )


def content_id(messages: list[dict[str, Any]]) -> str:
    """Identical conversations share one id, whoever approved them and wherever."""
    canonical = json.dumps(
        [{k: v for k, v in m.items() if k != "weight"} for m in messages],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]
