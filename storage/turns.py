"""Turns: every bot reply with the exact messages the model saw. They expire; examples don't."""

from __future__ import annotations

from redis.asyncio import Redis

from storage.keys import Keys
from storage.provenance import Provenance
from storage.schemas import MessageKey, Turn


def turn_item(turn: Turn) -> str:
    """How the provenance index names a turn."""
    return f"turn:{turn.platform}:{turn.channel}:{turn.ts}"


def turn_key(item: str) -> MessageKey:
    _, platform, channel, ts = item.split(":", 3)
    return MessageKey(platform, channel, ts)


class TurnStore:
    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds
        self._provenance = Provenance(keys)

    async def record(self, turn: Turn, redactions: int = 0) -> None:
        """Store the turn, its parts and make it the thread's latest, in one round trip."""
        thread = MessageKey(turn.platform, turn.channel, turn.thread_ts)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.turn(turn.key), turn.model_dump_json(), ex=self._ttl)
            pipe.set(self._keys.thread(thread), turn.ts, ex=self._ttl)
            if turn.part_ids:
                parts = {part.ref: turn.ts for part in turn.part_keys}
                pipe.hset(self._keys.reply_parts, mapping=parts)
            if redactions:
                pipe.hincrby(self._keys.dataset_stats, "redactions", redactions)
            self._provenance.add_turn(
                pipe, turn_item(turn), turn.provenance_refs, turn.people or [turn.user], self._ttl
            )
            await pipe.execute()

    async def delete(self, message: MessageKey) -> bool:
        return bool(await self._redis.delete(self._keys.turn(message)))

    async def first_part(self, message: MessageKey) -> MessageKey:
        """The message that names the turn: itself, or the first part of its split reply."""
        first = await self._redis.hget(self._keys.reply_parts, message.ref)
        return MessageKey(message.platform, message.channel, first) if first else message

    async def get(self, message: MessageKey) -> Turn | None:
        """The turn of a bot reply, found from any of the messages it was posted as."""
        raw = await self._redis.get(self._keys.turn(message))
        if raw is None:
            first = await self.first_part(message)
            raw = await self._redis.get(self._keys.turn(first)) if first != message else None
        return Turn.model_validate_json(raw) if raw else None

    async def latest_in_thread(self, conversation: MessageKey) -> Turn | None:
        ts = await self._redis.get(self._keys.thread(conversation))
        if not ts:
            return None
        return await self.get(MessageKey(conversation.platform, conversation.channel, ts))
