"""What training cost: each job's estimate when it started, and what it came to when it ended
(where the provider reports what it trained), by calendar month (UTC)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import utcnow


class LedgerEntry(BaseModel):
    job_id: str
    provider: str
    base_model: str
    started_by: str
    estimate_usd: float | None = None
    actual_usd: float | None = None  # once the job ended and the cost is known
    status: str = "running"  # the job's final status once it ended
    at: datetime = Field(default_factory=utcnow)

    @property
    def cost_usd(self) -> float:
        """What counts against the budget: the actual cost when known; the estimate while the
        job runs or when it succeeded without one; nothing for a job that never trained."""
        if self.actual_usd is not None:
            return self.actual_usd
        if self.status in ("running", "succeeded"):
            return self.estimate_usd or 0.0
        return 0.0


def month_of(when: datetime) -> str:
    return when.strftime("%Y-%m")


class LedgerStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def record(self, entry: LedgerEntry) -> None:
        """Write the entry under the month it started in (a job keeps its month)."""
        month = month_of(entry.at)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._keys.ledger(month), entry.job_id, entry.model_dump_json())
            pipe.sadd(self._keys.ledger_months, month)
            await pipe.execute()

    async def find(self, job_id: str, month: str) -> LedgerEntry | None:
        raw = await self._redis.hget(self._keys.ledger(month), job_id)
        return LedgerEntry.model_validate_json(raw) if raw else None

    async def month(self, month: str) -> list[LedgerEntry]:
        raws = await self._redis.hvals(self._keys.ledger(month))
        entries = [LedgerEntry.model_validate_json(raw) for raw in raws]
        return sorted(entries, key=lambda entry: entry.at)

    async def months(self) -> list[str]:
        """Months with entries, newest first."""
        return sorted(await self._redis.smembers(self._keys.ledger_months), reverse=True)
