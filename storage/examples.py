"""The dataset: examples, their votes, and which replies are approved.

A vote and the example's membership change together in one Lua script, so a crash or a
concurrent vote can never leave an example without votes in the dataset or the other way round.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import Example

# KEYS: examples, example, votes, approved-replies, vote-clock, stats
# ARGV: id, example json, member, ref, score, event time, tokens
_ADD_VOTE = """
local last = redis.call('HGET', KEYS[5], ARGV[3])
if last and tonumber(last) > tonumber(ARGV[6]) then return -1 end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[6])
if redis.call('SET', KEYS[2], ARGV[2], 'NX') then
  redis.call('HINCRBY', KEYS[6], 'tokens', ARGV[7])
  redis.call('HINCRBY', KEYS[6], 'examples', 1)
end
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[1], 'NX', ARGV[5], ARGV[1])
return redis.call('SCARD', KEYS[3])
"""

# KEYS as above; ARGV: id, member, ref, event time
_REMOVE_VOTE = """
local last = redis.call('HGET', KEYS[5], ARGV[2])
if last and tonumber(last) > tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[4])
if redis.call('SREM', KEYS[3], ARGV[2]) == 0 then return -2 end
local left = redis.call('SCARD', KEYS[3])
if left == 0 then
  local raw = redis.call('GET', KEYS[2])
  if raw then
    redis.call('HINCRBY', KEYS[6], 'tokens', -(cjson.decode(raw)['tokens'] or 0))
    redis.call('HINCRBY', KEYS[6], 'examples', -1)
  end
  redis.call('DEL', KEYS[2])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[3])
end
return left
"""


@dataclass(frozen=True)
class VoteResult:
    example_id: str
    votes: int  # distinct people; 0 means the example left the dataset
    changed: bool  # False for a repeat, a stale (out-of-order) event, or nothing to take back


@dataclass(frozen=True)
class DatasetStats:
    examples: int
    approx_tokens: int


class ExampleStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._add = redis.register_script(_ADD_VOTE)
        self._remove = redis.register_script(_REMOVE_VOTE)

    def _script_keys(self, example_id: str) -> list[str]:
        k = self._keys
        return [
            k.examples,
            k.example(example_id),
            k.votes(example_id),
            k.approved_replies,
            k.vote_clock,
            k.dataset_stats,
        ]

    async def vote(self, example: Example, user: str, event_time: str) -> VoteResult:
        member = f"{user}|{example.source}"
        score = example.created_at.timestamp()
        result = await self._add(
            keys=self._script_keys(example.id),
            args=[
                example.id,
                example.model_dump_json(),
                member,
                example.source,
                score,
                event_time,
                example.tokens,
            ],
        )
        return VoteResult(example.id, await self.voter_count(example.id), changed=result != -1)

    async def unvote(self, ref: str, user: str, event_time: str) -> VoteResult:
        """Take back `user`'s vote on the reply `ref` (a `MessageKey.ref`)."""
        example_id = await self._redis.hget(self._keys.approved_replies, ref) or "none"
        result = await self._remove(
            keys=self._script_keys(example_id),
            args=[example_id, f"{user}|{ref}", ref, event_time],
        )
        return VoteResult(example_id, await self.voter_count(example_id), changed=result >= 0)

    async def voter_count(self, example_id: str) -> int:
        members = await self._redis.smembers(self._keys.votes(example_id))
        return len({member.split("|", 1)[0] for member in members})

    async def get(self, example_id: str) -> Example | None:
        raw = await self._redis.get(self._keys.example(example_id))
        return Example.model_validate_json(raw) if raw else None

    async def stats(self) -> DatasetStats:
        counts = await self._redis.hgetall(self._keys.dataset_stats)
        return DatasetStats(int(counts.get("examples", 0)), int(counts.get("tokens", 0)))

    async def approved_example_ids(self) -> set[str]:
        return set(await self._redis.zrange(self._keys.examples, 0, -1))

    async def approved_refs(self) -> set[str]:
        """Replies whose example is in the dataset (stale index entries filtered out)."""
        index = await self._redis.hgetall(self._keys.approved_replies)
        live = await self.approved_example_ids()
        return {ref for ref, example_id in index.items() if example_id in live}

    async def iter_examples(self, batch: int = 500) -> AsyncIterator[Example]:
        """All examples, oldest approval first, fetched in batches to keep memory flat."""
        start = 0
        while True:
            ids = await self._redis.zrange(self._keys.examples, start, start + batch - 1)
            if not ids:
                return
            raws = await self._redis.mget([self._keys.example(i) for i in ids])
            for raw in raws:
                if raw:
                    yield Example.model_validate_json(raw)
            start += batch
