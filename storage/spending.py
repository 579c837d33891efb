"""What model calls cost: each person's calls in the current minute, and each day's spend.

Counters, not logs: a minute's counter lives two minutes, a day's spend a week (status shows
today's, and a week is enough to look back on). Increments are single commands, so several
processes count together without a script.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from storage.keys import Keys

MINUTE_KEY_SECONDS = 120
DAY_KEY_SECONDS = 7 * 86400


@dataclass(frozen=True)
class DaySpend:
    usd: float  # at the model table's prices; calls to models without a price add nothing
    tokens: int  # every call's prompt and reply tokens, priced or not


class SpendStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def count_call(self, person: str, minute: int) -> int:
        """Count one more call by `person` in `minute`; the count so far, this one included."""
        key = self._keys.calls_this_minute(person, minute)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, MINUTE_KEY_SECONDS)
            count, _ = await pipe.execute()
        return int(count)

    async def add(self, day: str, usd: float, tokens: int) -> None:
        key = self._keys.spend(day)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hincrbyfloat(key, "usd", usd)
            pipe.hincrby(key, "tokens", tokens)
            pipe.expire(key, DAY_KEY_SECONDS)
            await pipe.execute()

    async def day(self, day: str) -> DaySpend:
        values = await self._redis.hgetall(self._keys.spend(day))
        return DaySpend(usd=float(values.get("usd") or 0), tokens=int(values.get("tokens") or 0))
