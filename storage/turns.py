"""Turns: every bot reply with the exact messages the model saw. They expire; examples don't."""

from __future__ import annotations

from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import Turn


class TurnStore:
    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds

    async def record(self, turn: Turn) -> None:
        """Store the turn and make it the thread's latest, in one round trip."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.turn(turn.channel, turn.ts), turn.model_dump_json(), ex=self._ttl)
            pipe.set(self._keys.thread(turn.channel, turn.thread_ts), turn.ts, ex=self._ttl)
            await pipe.execute()

    async def get(self, channel: str, ts: str) -> Turn | None:
        raw = await self._redis.get(self._keys.turn(channel, ts))
        return Turn.model_validate_json(raw) if raw else None

    async def latest_in_thread(self, channel: str, thread_ts: str) -> Turn | None:
        ts = await self._redis.get(self._keys.thread(channel, thread_ts))
        return await self.get(channel, ts) if ts else None
