"""The move of the model in use to another provider before its shutdown: one record a bot."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import utcnow

TRAINING, COMPARING, DONE, FAILED = "training", "comparing", "done", "failed"


class Migration(BaseModel):
    from_model: str
    from_provider: str
    to_provider: str
    base_model: str
    shutdown: date | None  # when the old model stops answering (None: no date announced)
    promote_by: date | None  # the gate swaps by this day at the latest
    status: str = TRAINING
    job_id: str | None = None
    started_by: str
    automatic: bool = False
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def from_ref(self) -> str:
        return f"{self.from_provider}:{self.from_model}"


class MigrationStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def get(self) -> Migration | None:
        raw = await self._redis.get(self._keys.migration)
        return Migration.model_validate_json(raw) if raw else None

    async def save(self, migration: Migration) -> None:
        await self._redis.set(self._keys.migration, migration.model_dump_json())
