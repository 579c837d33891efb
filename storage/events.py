"""Remembers platform event ids for a while so retried deliveries are handled once.

Most events are done the moment they are marked (a vote is saved before the ack). An answer
takes seconds: its event is marked "working" with a short expiry that the answering process
keeps renewing, then "done". A process that dies mid-answer stops renewing, so a redelivery
after its mark expires is answered, once, by whichever process gets it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis
from redis.exceptions import RedisError

from storage import scripts
from storage.keys import Keys

# Slack retries for a few minutes at most; an hour is a comfortable margin.
SEEN_TTL_SECONDS = 3600
WORKING, DONE = "working", "done"

# Renew a "working" mark only while it is still ours to renew. KEYS: mark; ARGV: ttl ms
_RENEW = """
if redis.call('GET', KEYS[1]) == 'working' then
  return redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 0
"""


class SeenEvents:
    def __init__(self, redis: Redis, keys: Keys, working_seconds: float = 10.0) -> None:
        self._redis = redis
        self._keys = keys
        self._working_ms = max(1, int(working_seconds * 1000))
        self._renew = scripts.register(redis, _RENEW)

    async def first_time(self, event_id: str) -> bool:
        """True the first time an event id is offered, False for every repeat."""
        return bool(
            await self._redis.set(
                self._keys.seen_event(event_id), DONE, nx=True, ex=SEEN_TTL_SECONDS
            )
        )

    async def claim(self, event_id: str) -> bool:
        """True if nobody is working on the event or has done it: this process takes it."""
        key = self._keys.seen_event(event_id)
        return bool(await self._redis.set(key, WORKING, nx=True, px=self._working_ms))

    @contextlib.asynccontextmanager
    async def working_on(self, event_id: str) -> AsyncIterator[None]:
        """Keep a claimed event's mark alive while the work runs; done when it ends (an error
        too: a redelivery would fail the same way)."""
        # A stop flag as well as the cancel: redis-py can turn a cancellation that lands
        # mid-command into a connection error, which the renewal swallows; the cancel alone
        # then never ended it, and the answer waited on its own renewal for ever.
        stopped = asyncio.Event()
        renewing = asyncio.create_task(self._keep_renewing(event_id, stopped))
        try:
            yield
        finally:
            stopped.set()
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            # Storage down at the end: the mark expires and a redelivery may answer again.
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await self._redis.set(self._keys.seen_event(event_id), DONE, ex=SEEN_TTL_SECONDS)

    async def _keep_renewing(self, event_id: str, stopped: asyncio.Event) -> None:
        key = self._keys.seen_event(event_id)
        while not stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), self._working_ms / 3000)
            if stopped.is_set():
                return
            with contextlib.suppress(Exception):  # a missed renewal only shortens the mark
                await self._renew(keys=[key], args=[self._working_ms])
