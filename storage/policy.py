"""The training policy set from chat, and the last scheduled slot it acted on.

Settings give the policy (TRAIN_EVERY_EXAMPLES, TRAIN_SCHEDULE, TRAIN_BUDGET_MONTHLY); an
admin's `/finetune policy` replaces them here until `/finetune policy reset`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import utcnow

SLOT_TTL = 8 * 24 * 3600  # longer than a week: a weekly slot is remembered past the next one


class Policy(BaseModel):
    """When the bot starts a job by itself. Every field None: off."""

    every_examples: int | None = None  # start when this many new examples came in
    schedule: str | None = None  # "mon 09:00" (weekly) or "daily 09:00", UTC
    budget_monthly: float | None = None  # dollars of estimated cost per calendar month
    set_in_chat: bool = False  # an admin's, not the settings' (who is not kept: nothing to forget)
    set_at: datetime = Field(default_factory=utcnow)

    @property
    def is_on(self) -> bool:
        return self.every_examples is not None or self.schedule is not None


class PolicyStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self) -> Policy | None:
        raw = await self._redis.get(self._keys.policy)
        return Policy.model_validate_json(raw) if raw else None

    async def save(self, policy: Policy) -> None:
        await self._redis.set(self._keys.policy, policy.model_dump_json())

    async def clear(self) -> None:
        await self._redis.delete(self._keys.policy)

    async def take_slot(self, slot: str) -> bool:
        """True once per scheduled slot ("2026-12-07T09:00"): the schedule acts on each slot
        once, across processes and restarts."""
        return bool(await self._redis.set(self._keys.policy_slot(slot), "1", nx=True, ex=SLOT_TTL))
