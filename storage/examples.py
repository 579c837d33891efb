"""The dataset: examples, their votes, and which replies are approved.

A vote and the example's membership change together in one Lua script, so a crash or a
concurrent vote can never leave an example without votes in the dataset or the other way round.
What reaches a training file (quorum, vetoes) is decided when it is read, from the votes and
vetoes kept here, so changing a rule never needs a migration.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

from storage import scripts
from storage.keys import Keys
from storage.provenance import Provenance
from storage.schemas import Example

# Slack redelivers within minutes and reactions arrive out of order by seconds: a week of
# ordering per reply is ample, and the clock then expires instead of growing for ever.
CLOCK_TTL_SECONDS = 7 * 24 * 3600
BATCH = 500  # examples read per round trip when the whole dataset is streamed

# Distinct people among a votes set's `user|ref` members (one person may approve two identical
# conversations). Shared by the scripts below.
_COUNT_VOTERS = (
    f"local CLOCK_TTL = {CLOCK_TTL_SECONDS}\n"
    + """
local function voters(key)
  local seen, n = {}, 0
  for _, member in ipairs(redis.call('SMEMBERS', key)) do
    local user = string.match(member, '^([^|]*)')
    if not seen[user] then seen[user] = true; n = n + 1 end
  end
  return n
end
"""
)

# KEYS: examples, example, votes, approved-replies, the reply's vote clock, stats, voter-counts,
# imported, then the provenance index sets of the example's messages and people
# ARGV: id, example json, member, ref, score, event time, tokens, provenance item
# Returns {voters, 1 if this vote is new}; {-1, 0} for an event older than one already seen.
# The provenance index is written in the same script (Redis Cluster runs no script in a
# pipeline), so the vote and where its text came from still land together.
_ADD_VOTE = (
    _COUNT_VOTERS
    + """
for i = 9, #KEYS do redis.call('SADD', KEYS[i], ARGV[8]) end
local last = redis.call('HGET', KEYS[5], ARGV[3])
if last and tonumber(last) > tonumber(ARGV[6]) then return {-1, 0} end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[6])
redis.call('EXPIRE', KEYS[5], CLOCK_TTL)
if redis.call('SET', KEYS[2], ARGV[2], 'NX') then
  redis.call('HINCRBY', KEYS[6], 'tokens', ARGV[7])
  redis.call('HINCRBY', KEYS[6], 'examples', 1)
end
local added = redis.call('SADD', KEYS[3], ARGV[3])
redis.call('HSET', KEYS[4], ARGV[4], ARGV[1])
redis.call('ZADD', KEYS[1], 'NX', ARGV[5], ARGV[1])
local n = voters(KEYS[3])
redis.call('ZADD', KEYS[7], n, ARGV[1])
return {n, added}
"""
)

# Takes the example out of the dataset once nobody approves it (or it is deleted).
_DROP = """
local function drop(keys, id)
  local raw = redis.call('GET', keys[2])
  if raw then
    redis.call('HINCRBY', keys[6], 'tokens', -(cjson.decode(raw)['tokens'] or 0))
    redis.call('HINCRBY', keys[6], 'examples', -1)
  end
  for _, member in ipairs(redis.call('SMEMBERS', keys[3])) do
    local ref = string.match(member, '^[^|]*|(.*)$')
    if ref and redis.call('HGET', keys[4], ref) == id then redis.call('HDEL', keys[4], ref) end
  end
  redis.call('DEL', keys[2], keys[3])
  redis.call('ZREM', keys[1], id)
  redis.call('ZREM', keys[7], id)
  redis.call('SREM', keys[8], id)
  return raw and 1 or 0
end
"""

# KEYS as above; ARGV: id, member, ref, event time
_REMOVE_VOTE = (
    _COUNT_VOTERS
    + _DROP
    + """
local last = redis.call('HGET', KEYS[5], ARGV[2])
if last and tonumber(last) > tonumber(ARGV[4]) then return -1 end
redis.call('HSET', KEYS[5], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[5], CLOCK_TTL)
if redis.call('SREM', KEYS[3], ARGV[2]) == 0 then return -2 end
local left = voters(KEYS[3])
if left == 0 then
  drop(KEYS, ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[3])
else
  redis.call('ZADD', KEYS[7], left, ARGV[1])
end
return left
"""
)

# KEYS as above; ARGV: id. 1 if the example existed.
_DELETE = _DROP + "return drop(KEYS, ARGV[1])"

# Take back every vote one person gave an example (forget-me). KEYS as above; ARGV: id, user.
# Returns -1 if they had none, else the voters left (an imported example stays at 0).
_FORGET_VOTER = (
    _COUNT_VOTERS
    + _DROP
    + """
local prefix = ARGV[2] .. '|'
local refs = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if string.sub(member, 1, #prefix) == prefix then
    redis.call('SREM', KEYS[3], member)
    refs[string.sub(member, #prefix + 1)] = true
  end
end
if next(refs) == nil then return -1 end
for _, member in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  refs[string.match(member, '^[^|]*|(.*)$') or ''] = nil
end
for ref in pairs(refs) do
  if redis.call('HGET', KEYS[4], ref) == ARGV[1] then redis.call('HDEL', KEYS[4], ref) end
end
local left = voters(KEYS[3])
if left == 0 and redis.call('SISMEMBER', KEYS[8], ARGV[1]) == 0 then
  drop(KEYS, ARGV[1])
else
  redis.call('ZADD', KEYS[7], left, ARGV[1])
end
return left
"""
)


@dataclass(frozen=True)
class VoteResult:
    example_id: str
    votes: int  # distinct people; 0 means the example left the dataset
    changed: bool  # False for a repeat, a stale (out-of-order) event, or nothing to take back


@dataclass(frozen=True)
class DatasetStats:
    examples: int  # with at least one vote
    approx_tokens: int
    redactions: int = 0  # made in turns before they were stored


class ExampleStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._provenance = Provenance(keys)
        self._add = scripts.register(redis, _ADD_VOTE)
        self._remove = scripts.register(redis, _REMOVE_VOTE)
        self._delete = scripts.register(redis, _DELETE)
        self._forget_voter = scripts.register(redis, _FORGET_VOTER)

    def _script_keys(self, example_id: str, ref: str = "none") -> list[str]:
        k = self._keys
        return [
            k.examples,
            k.example(example_id),
            k.votes(example_id),
            k.approved_replies,
            k.vote_clock(ref),
            k.dataset_stats,
            k.voter_counts,
            k.imported,
        ]

    async def vote(self, example: Example, user: str, event_time: str) -> VoteResult:
        member = f"{user}|{example.source}"
        args = [
            example.id,
            example.model_dump_json(),
            member,
            example.source,
            example.created_at.timestamp(),
            event_time,
            example.tokens,
        ]
        keys = self._script_keys(example.id, example.source)
        keys += self._provenance.index_keys(example.message_refs, example.people)
        votes, added = await self._add(keys=keys, args=[*args, f"example:{example.id}"])
        if votes == -1:  # an older event than one already seen: nothing changed
            return VoteResult(example.id, await self.voter_count(example.id), changed=False)
        return VoteResult(example.id, votes, changed=bool(added))  # a repeat changes nothing

    async def unvote(self, ref: str, user: str, event_time: str) -> VoteResult:
        """Take back `user`'s vote on the reply `ref` (a `MessageKey.ref`)."""
        example_id = await self._redis.hget(self._keys.approved_replies, ref) or "none"
        result = await self._remove(
            keys=self._script_keys(example_id, ref),
            args=[example_id, f"{user}|{ref}", ref, event_time],
        )
        return VoteResult(example_id, await self.voter_count(example_id), changed=result >= 0)

    async def count_redactions(self, made: int) -> None:
        """Redactions made in examples stored without a turn (an import), for the stats."""
        if made:
            await self._redis.hincrby(self._keys.dataset_stats, "redactions", made)

    async def mark_imported(self, example_id: str) -> None:
        await self._redis.sadd(self._keys.imported, example_id)

    async def imported_ids(self) -> set[str]:
        return await self._redis.smembers(self._keys.imported)

    async def replace(self, example: Example) -> None:
        """Store new contents for an example already in the dataset (weights changed)."""
        await self._redis.set(self._keys.example(example.id), example.model_dump_json(), xx=True)

    async def delete(self, example_id: str) -> bool:
        """Remove an example and its votes, whoever approved it (its source was deleted)."""
        return bool(await self._delete(keys=self._script_keys(example_id), args=[example_id]))

    async def forget_voter(self, user: str) -> list[str]:
        """Take back every vote `user` gave (forget-me): examples nobody else approved leave
        the dataset. Returns the replies (refs) they had approved. Reads every example's
        voters, which is fine for a request people make rarely and needs no index on votes."""
        refs: list[str] = []
        prefix = f"{user}|"
        async for ids in self.iter_ids():
            async with self._redis.pipeline(transaction=False) as pipe:
                for example_id in ids:
                    pipe.smembers(self._keys.votes(example_id))
                voters = await pipe.execute()
            for example_id, members in zip(ids, voters, strict=True):
                theirs = [member[len(prefix) :] for member in members if member.startswith(prefix)]
                if theirs:
                    await self._forget_voter(
                        keys=self._script_keys(example_id), args=[example_id, user]
                    )
                    refs += theirs
        return refs

    async def forget_clocks(self, user: str, refs: list[str]) -> None:
        """Forget-me: the times of `user`'s vote and veto events on the replies `refs`."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for ref in refs:
                pipe.hdel(self._keys.vote_clock(ref), f"{user}|{ref}", f"veto|{user}|{ref}")
            await pipe.execute()

    async def voter_count(self, example_id: str) -> int:
        members = await self._redis.smembers(self._keys.votes(example_id))
        return len({member.split("|", 1)[0] for member in members})

    async def get(self, example_id: str) -> Example | None:
        raw = await self._redis.get(self._keys.example(example_id))
        return Example.model_validate_json(raw) if raw else None

    async def approved_since(self, since: datetime | None) -> int:
        """Examples first approved after `since` (all of them for None): the new ones."""
        low = f"({since.timestamp()}" if since else "-inf"
        return await self._redis.zcount(self._keys.examples, low, "+inf")

    async def stats(self) -> DatasetStats:
        counts = await self._redis.hgetall(self._keys.dataset_stats)
        return DatasetStats(
            int(counts.get("examples", 0)),
            int(counts.get("tokens", 0)),
            int(counts.get("redactions", 0)),
        )

    async def voters(self, example_ids: list[str]) -> list[int]:
        """Distinct voters of each example, in order (0 for one not in the dataset)."""
        if not example_ids:
            return []
        scores = await self._redis.zmscore(self._keys.voter_counts, example_ids)
        missing = [i for i, score in zip(example_ids, scores, strict=True) if score is None]
        # Examples approved before voter counts were kept: count them once and remember.
        counted = {i: await self.voter_count(i) for i in missing}
        if counted := {i: n for i, n in counted.items() if n}:
            await self._redis.zadd(self._keys.voter_counts, counted)
        return [
            int(score) if score is not None else counted.get(i, 0)
            for i, score in zip(example_ids, scores, strict=True)
        ]

    async def all_ids(self) -> list[str]:
        return await self._redis.zrange(self._keys.examples, 0, -1)

    async def iter_ids(self, batch: int = BATCH) -> AsyncIterator[list[str]]:
        """The ids of the dataset's examples, oldest approval first, a range at a time, so
        reading them all never holds more than `batch` (the dataset may be 100,000 long)."""
        start = 0
        while ids := await self._redis.zrange(self._keys.examples, start, start + batch - 1):
            yield ids
            start += batch

    async def in_dataset(self, example_ids: list[str]) -> list[bool]:
        """Whether each id is an example in the dataset (an index entry may be stale)."""
        if not example_ids:
            return []
        scores = await self._redis.zmscore(self._keys.examples, example_ids)
        return [score is not None for score in scores]

    async def imported_among(self, example_ids: list[str]) -> list[bool]:
        """Whether an operator imported each example, in order."""
        if not example_ids:
            return []
        found = await self._redis.smismember(self._keys.imported, example_ids)
        return [bool(flag) for flag in found]

    async def examples_of_replies(self, refs: list[str]) -> list[str | None]:
        """The example each approved reply ref became (None: nobody approved that reply), read
        from the approved-reply index for these refs only, never the whole index."""
        if not refs:
            return []
        return await self._redis.hmget(self._keys.approved_replies, refs)

    async def iter_batches(self, batch: int = BATCH) -> AsyncIterator[list[Example]]:
        """All examples, oldest approval first, a batch at a time to keep memory flat."""
        async for ids in self.iter_ids(batch):
            raws = await self._redis.mget([self._keys.example(i) for i in ids])
            yield [Example.model_validate_json(raw) for raw in raws if raw]

    async def iter_examples(self, batch: int = BATCH) -> AsyncIterator[Example]:
        async for examples in self.iter_batches(batch):
            for example in examples:
                yield example
