"""Notices said once across every process: a Redis key taken with SET NX that expires."""

from __future__ import annotations

from redis.asyncio import Redis

from storage.keys import Keys


class NoticeStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def first(self, notice: str, ttl_seconds: int) -> bool:
        """True for the one caller that says `notice` in this period; False for the rest."""
        return bool(await self._redis.set(self._keys.notice(notice), "1", nx=True, ex=ttl_seconds))
