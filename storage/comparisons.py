"""Comparisons: two models answering the same conversations side by side, and people's picks.

A comparison is a record (what is compared, why, where it is shown, its state) and its pairs,
one per conversation, each with both answers and the order A/B they were shown in. Picks are
a hash per pair, person -> "a" | "b" | "same" | "bad", so a second pick replaces the first.
Everything a comparison needs to go on after a restart is here.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from redis.asyncio import Redis
from redis.asyncio.lock import Lock

from storage.keys import Keys
from storage.schemas import utcnow

Pick = Literal["a", "b", "same", "bad"]  # "bad": both answers are bad
RUNNING, OPEN, PROMOTED, REJECTED, FAILED = "running", "open", "promoted", "rejected", "failed"
UNDECIDED = "undecided"  # a gate whose picks did not decide within COMPARE_MAX_DAYS
CLOSED = frozenset({PROMOTED, REJECTED, FAILED, UNDECIDED})
LOCK_SECONDS = 30  # a pair's storing and posting take a second; a dead holder frees it by then


class Answer(BaseModel):
    """One side's answer to one conversation, or why there is none."""

    model: str
    text: str | None = None
    error: str | None = None
    prompt_tokens: int = 0
    latency_ms: int = 0


class Conversation(BaseModel):
    """A conversation to answer: the messages before the reply (its system prompt is replaced
    by each side's own), and whether the candidate was trained on it."""

    messages: list[dict[str, Any]]
    seen_in_training: bool = False


class ComparedPair(BaseModel):
    id: str
    comparison_id: str
    conversation: Conversation
    candidate_is_a: bool  # the random order people see; stored so the labels stay put
    candidate: Answer
    current: Answer
    judge: Pick | None = None  # COMPARE_JUDGE_MODEL's verdict, shown beside people's picks
    message_id: str | None = None  # where it is posted, once it is

    def side(self, pick: Pick) -> str:
        """ "candidate", "current", "same" or "bad" for a pick of A, B, Same or Both bad."""
        if pick in ("same", "bad"):
            return pick
        return "candidate" if (pick == "a") == self.candidate_is_a else "current"

    @property
    def failed(self) -> bool:
        return self.candidate.text is None or self.current.text is None


class Comparison(BaseModel):
    id: str = Field(default_factory=lambda: f"cmp-{uuid.uuid4().hex[:10]}")
    kind: Literal["adhoc", "gate"]
    current_model: str
    candidate_model: str
    # Where each side is served (None in records made before providers: the default).
    current_provider: str | None = None
    candidate_provider: str | None = None
    current_prompt: str
    candidate_prompt: str
    status: str = RUNNING
    asked_by: str = ""
    platform: str = "slack"
    channel: str
    thread_id: str | None = None  # post the pairs in this thread (a gate: the job's message)
    job_id: str | None = None
    to_answer: list[Conversation] = Field(default_factory=list)  # left to answer, in order
    pair_ids: list[str] = Field(default_factory=list)
    estimated_cost_usd: float | None = None
    # A migration's gate: promoted by this day at the latest, when the old model shuts down.
    promote_by: date | None = None
    # The gate's sequential test decides (COMPARE_AUTO_DECIDE, or a job the policy started).
    auto_decide: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED


class ComparisonStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def save(self, comparison: Comparison) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.comparison(comparison.id), comparison.model_dump_json())
            pipe.zadd(self._keys.comparisons, {comparison.id: comparison.created_at.timestamp()})
            if comparison.status == RUNNING:
                pipe.sadd(self._keys.running_comparisons, comparison.id)
            else:
                pipe.srem(self._keys.running_comparisons, comparison.id)
            await pipe.execute()

    async def get(self, comparison_id: str) -> Comparison | None:
        raw = await self._redis.get(self._keys.comparison(comparison_id))
        return Comparison.model_validate_json(raw) if raw else None

    async def running(self) -> list[Comparison]:
        """Comparisons with conversations still to answer (any process may finish them)."""
        ids = sorted(await self._redis.smembers(self._keys.running_comparisons))
        found = [await self.get(comparison_id) for comparison_id in ids]
        return [comparison for comparison in found if comparison is not None]

    async def all(self, limit: int = 200) -> list[Comparison]:
        ids = await self._redis.zrevrange(self._keys.comparisons, 0, limit - 1)
        found = [await self.get(comparison_id) for comparison_id in ids]
        return [comparison for comparison in found if comparison is not None]

    async def save_pair(self, pair: ComparedPair) -> None:
        await self._redis.set(self._keys.compared_pair(pair.id), pair.model_dump_json())

    async def pair(self, pair_id: str) -> ComparedPair | None:
        raw = await self._redis.get(self._keys.compared_pair(pair_id))
        return ComparedPair.model_validate_json(raw) if raw else None

    async def pairs(self, comparison: Comparison) -> list[ComparedPair]:
        found = [await self.pair(pair_id) for pair_id in comparison.pair_ids]
        return [pair for pair in found if pair is not None]

    def lock(self, comparison_id: str) -> Lock:
        """Held while a pair is stored and posted, and while forgetting edits the comparison,
        so a conversation forgotten mid-answer is never posted."""
        return self._redis.lock(
            f"{self._keys.comparison(comparison_id)}:lock",
            timeout=LOCK_SECONDS,
            blocking_timeout=LOCK_SECONDS,
        )

    async def delete(self, comparison: Comparison) -> None:
        """The record, its pairs and their picks."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for pair_id in comparison.pair_ids:
                pipe.delete(self._keys.compared_pair(pair_id), self._keys.picks(pair_id))
            pipe.delete(self._keys.comparison(comparison.id))
            pipe.zrem(self._keys.comparisons, comparison.id)
            pipe.srem(self._keys.running_comparisons, comparison.id)
            await pipe.execute()

    async def delete_pair(self, pair_id: str) -> None:
        await self._redis.delete(self._keys.compared_pair(pair_id), self._keys.picks(pair_id))

    async def unpick(self, pair_id: str, user: str) -> bool:
        """Take a person's pick off a pair; True if they had one."""
        return bool(await self._redis.hdel(self._keys.picks(pair_id), user))

    async def pick(self, pair_id: str, user: str, pick: Pick) -> None:
        await self._redis.hset(self._keys.picks(pair_id), user, pick)

    async def picks(self, pair_id: str) -> dict[str, Pick]:
        return await self._redis.hgetall(self._keys.picks(pair_id))
