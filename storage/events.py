"""Remembers platform event ids for a while so retried deliveries are handled once."""

from __future__ import annotations

from redis.asyncio import Redis

from storage.keys import Keys

# Slack retries for a few minutes at most; an hour is a comfortable margin.
SEEN_TTL_SECONDS = 3600


class SeenEvents:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def first_time(self, event_id: str) -> bool:
        """True the first time an event id is offered, False for every repeat."""
        return bool(
            await self._redis.set(self._keys.seen_event(event_id), 1, nx=True, ex=SEEN_TTL_SECONDS)
        )
