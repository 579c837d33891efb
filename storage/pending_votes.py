"""Reactions on a reply whose turn is not recorded yet: a 👍 while the answer still streams.

The turn is written when the stream stops; a reaction before that is held here and applied
when it is (or dropped after a while if the answer never became a turn: it failed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import MessageKey

HOLD_SECONDS = 600  # longer than any answer streams


@dataclass(frozen=True)
class HeldReaction:
    user: str
    judgement: str  # "vote" or "veto"
    added: bool
    event_time: str


class PendingVotes:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def hold(self, reply: MessageKey, reaction: HeldReaction) -> None:
        """Keep the person's latest reaction of this kind (an add, or its removal)."""
        key = self._keys.pending_votes(reply)
        value = json.dumps({"added": reaction.added, "at": reaction.event_time})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, f"{reaction.user}:{reaction.judgement}", value)
            pipe.expire(key, HOLD_SECONDS)
            await pipe.execute()

    async def take(self, reply: MessageKey) -> list[HeldReaction]:
        """Every held reaction on `reply`, removed: each is applied by one caller only."""
        key = self._keys.pending_votes(reply)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(key)
            pipe.delete(key)
            held, _ = await pipe.execute()
        reactions = []
        for field, value in held.items():
            user, _, judgement = field.rpartition(":")
            data = json.loads(value)
            reactions.append(HeldReaction(user, judgement, bool(data["added"]), str(data["at"])))
        return sorted(reactions, key=lambda r: r.event_time)
