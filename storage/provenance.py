"""Where stored text came from: which examples, pairs and turns hold each message and each
person's words, so a deleted message or `/finetune forget-me` removes all of them; and who
asked not to be recorded."""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from storage.keys import Keys


class Provenance:
    def __init__(self, keys: Keys, redis: Redis | None = None) -> None:
        self._keys = keys
        self._redis = redis

    def add(self, pipe: Pipeline, item: str, refs: Iterable[str], people: Iterable[str]) -> None:
        """Index a kept `item` (`example:<id>`, `pair:<id>`) in the caller's transaction."""
        for key in self.index_keys(refs, people):
            pipe.sadd(key, item)

    def index_keys(self, refs: Iterable[str], people: Iterable[str]) -> list[str]:
        """The sets that index an item by the messages it holds text of and by its people."""
        keys = [self._keys.from_message(ref) for ref in refs]
        return keys + [self._keys.from_person(person) for person in people]

    def add_turn(
        self, pipe: Pipeline, item: str, refs: Iterable[str], people: Iterable[str], ttl: int
    ) -> None:
        """Index a turn (`turn:<platform>:<channel>:<id>`); the index expires with the turns."""
        keys = [self._keys.turns_from_message(ref) for ref in refs]
        keys += [self._keys.turns_from_person(person) for person in people]
        for key in keys:
            pipe.sadd(key, item)
            pipe.expire(key, ttl)

    async def holding_message(self, ref: str) -> set[str]:
        k = self._keys
        return await self._redis.sunion(k.from_message(ref), k.turns_from_message(ref))

    async def holding_person(self, user: str) -> set[str]:
        k = self._keys
        return await self._redis.sunion(k.from_person(user), k.turns_from_person(user))

    async def forget_message(self, ref: str) -> None:
        k = self._keys
        await self._redis.delete(k.from_message(ref), k.turns_from_message(ref))

    async def forget_person(self, user: str) -> None:
        k = self._keys
        await self._redis.delete(k.from_person(user), k.turns_from_person(user))

    async def opt_out(self, user: str) -> None:
        await self._redis.sadd(self._keys.opted_out, user)

    async def opt_in(self, user: str) -> bool:
        """True if the person had opted out."""
        return bool(await self._redis.srem(self._keys.opted_out, user))

    async def any_opted_out(self, people: list[str]) -> bool:
        return any(await self.opted_out(people))

    async def opted_out(self, people: list[str]) -> list[bool]:
        """Whether each person opted out, in order, in one round trip."""
        if not people:
            return []
        return [bool(flag) for flag in await self._redis.smismember(self._keys.opted_out, people)]
