"""Preference pairs (a preferred and a non-preferred answer to one conversation, for DPO) and
the corrections that make them: one correction per reply, the latest replacing the earlier."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from storage.keys import Keys
from storage.provenance import Provenance
from storage.schemas import PreferencePair


@dataclass(frozen=True)
class Correction:
    """The latest correction of one reply: who wrote it, the text, what it made."""

    by: str
    text: str
    example_id: str
    pair_id: str


class PairStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._provenance = Provenance(keys)

    async def save_correction(self, reply_ref: str, pair: PreferencePair, example_id: str) -> None:
        record = Correction(pair.by, pair.preferred, example_id, pair.id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.pair(pair.id), pair.model_dump_json())
            pipe.zadd(self._keys.pairs, {pair.id: pair.created_at.timestamp()})
            pipe.hset(self._keys.corrections, reply_ref, json.dumps(record.__dict__))
            self._provenance.add(pipe, f"pair:{pair.id}", pair.message_refs, pair.people)
            await pipe.execute()

    async def save(self, pair: PreferencePair) -> None:
        """A pair from anything but a correction (a comparison's pick)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.pair(pair.id), pair.model_dump_json())
            pipe.zadd(self._keys.pairs, {pair.id: pair.created_at.timestamp()})
            self._provenance.add(pipe, f"pair:{pair.id}", pair.message_refs, pair.people)
            await pipe.execute()

    async def correction(self, reply_ref: str) -> Correction | None:
        raw = await self._redis.hget(self._keys.corrections, reply_ref)
        return Correction(**json.loads(raw)) if raw else None

    async def corrections_by(self, user: str) -> list[Correction]:
        """Every standing correction `user` wrote (forget-me takes them with it)."""
        found = []
        async for _, raw in self._redis.hscan_iter(self._keys.corrections):
            correction = Correction(**json.loads(raw))
            if correction.by == user:
                found.append(correction)
        return found

    async def get(self, pair_id: str) -> PreferencePair | None:
        raw = await self._redis.get(self._keys.pair(pair_id))
        return PreferencePair.model_validate_json(raw) if raw else None

    async def delete(self, pair_id: str) -> bool:
        """Remove a pair (and the correction record that names it); True if it existed."""
        pair = await self.get(pair_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.pair(pair_id))
            pipe.zrem(self._keys.pairs, pair_id)
            await pipe.execute()
        if pair is not None:
            current = await self.correction(pair.source)
            if current is not None and current.pair_id == pair_id:
                await self._redis.hdel(self._keys.corrections, pair.source)
        return pair is not None

    async def count(self) -> int:
        return await self._redis.zcard(self._keys.pairs)

    async def iter_pairs(self, batch: int = 500) -> AsyncIterator[PreferencePair]:
        start = 0
        while True:
            ids = await self._redis.zrange(self._keys.pairs, start, start + batch - 1)
            if not ids:
                return
            for raw in await self._redis.mget([self._keys.pair(i) for i in ids]):
                if raw:
                    yield PreferencePair.model_validate_json(raw)
            start += batch
