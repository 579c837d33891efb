"""Vetoes: a person's "this is bad" on a bot reply. An example with any veto is never exported,
whatever its votes; lifting the last veto lets it back in. Each veto keeps who, when and why."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis

from storage import scripts
from storage.examples import CLOCK_TTL_SECONDS
from storage.keys import Keys

# KEYS: vetoes, vetoed, veto-refs, the reply's vote clock. ARGV: id, user, ref, veto json,
# event time. The vote clock orders each person's add and remove events, as it does for votes.
_ADD = (
    f"local CLOCK_TTL = {CLOCK_TTL_SECONDS}\n"
    + """
local member = 'veto|' .. ARGV[2] .. '|' .. ARGV[3]
local last = redis.call('HGET', KEYS[4], member)
if last and tonumber(last) > tonumber(ARGV[5]) then return 0 end
redis.call('HSET', KEYS[4], member, ARGV[5])
redis.call('EXPIRE', KEYS[4], CLOCK_TTL)
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[3], ARGV[1])
return 1
"""
)

# KEYS as above. ARGV: id, user, ref, event time.
_REMOVE = (
    f"local CLOCK_TTL = {CLOCK_TTL_SECONDS}\n"
    + """
local member = 'veto|' .. ARGV[2] .. '|' .. ARGV[3]
local last = redis.call('HGET', KEYS[4], member)
if last and tonumber(last) > tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[4], member, ARGV[4])
redis.call('EXPIRE', KEYS[4], CLOCK_TTL)
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then return 0 end
if redis.call('HLEN', KEYS[1]) == 0 then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"""
)


FORGOTTEN = "someone-forgotten"  # whose veto stands after they said "forget me"


@dataclass(frozen=True)
class Veto:
    user: str
    ref: str
    at: datetime
    reason: str | None = None


class VetoStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._add = scripts.register(redis, _ADD)
        self._remove = scripts.register(redis, _REMOVE)

    def _script_keys(self, example_id: str, ref: str) -> list[str]:
        k = self._keys
        return [k.vetoes(example_id), k.vetoed, k.veto_refs, k.vote_clock(ref)]

    async def veto(
        self, example_id: str, user: str, ref: str, event_time: str, reason: str | None = None
    ) -> bool:
        """True if the veto was recorded (False for an event older than one already seen)."""
        record = json.dumps({"ref": ref, "at": datetime.now(UTC).isoformat(), "reason": reason})
        added = await self._add(
            keys=self._script_keys(example_id, ref),
            args=[example_id, user, ref, record, event_time],
        )
        return bool(added)

    async def lift(self, ref: str, user: str, event_time: str) -> bool:
        """Take back `user`'s veto on the reply `ref`; True if there was one to take back."""
        example_id = await self._redis.hget(self._keys.veto_refs, ref) or "none"
        lifted = await self._remove(
            keys=self._script_keys(example_id, ref), args=[example_id, user, ref, event_time]
        )
        return bool(lifted)

    async def of(self, example_id: str) -> list[Veto]:
        raw = await self._redis.hgetall(self._keys.vetoes(example_id))
        return [_veto(user, json.loads(record)) for user, record in raw.items()]

    async def vetoed_ids(self) -> set[str]:
        return await self._redis.smembers(self._keys.vetoed)

    async def anonymise(self, user: str) -> list[str]:
        """Forget-me: `user`'s vetoes keep their examples out, but no longer name them or keep
        their reason. Returns the replies (refs) they had vetoed."""
        vetoed = sorted(await self.vetoed_ids())
        if not vetoed:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for example_id in vetoed:
                pipe.hget(self._keys.vetoes(example_id), user)
            records = await pipe.execute()
        refs = []
        for example_id, record in zip(vetoed, records, strict=True):
            if record is None:
                continue
            kept = json.loads(record) | {"reason": None}
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hdel(self._keys.vetoes(example_id), user)
                pipe.hset(self._keys.vetoes(example_id), FORGOTTEN, json.dumps(kept))
                await pipe.execute()
            refs.append(kept["ref"])
        return refs

    async def delete(self, example_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.vetoes(example_id))
            pipe.srem(self._keys.vetoed, example_id)
            await pipe.execute()


def _veto(user: str, record: dict) -> Veto:
    return Veto(user, record["ref"], datetime.fromisoformat(record["at"]), record.get("reason"))
