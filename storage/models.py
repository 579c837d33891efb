"""The model the bot chats with, and every model it used before (for rollback)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import utcnow

HISTORY_LIMIT = 100


class ModelSwap(BaseModel):
    model: str
    # The provider serving it (PROVIDERS_FILE's name); None in records made before providers:
    # the default chat provider.
    provider: str | None = None
    job_id: str | None = None
    by: str | None = None
    reason: str = "fine-tune"
    system_prompt: str | None = None
    at: datetime = Field(default_factory=utcnow)


class ModelStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def active(self) -> ModelSwap | None:
        raw = await self._redis.get(self._keys.active_model)
        return ModelSwap.model_validate_json(raw) if raw else None

    async def activate(self, swap: ModelSwap) -> None:
        """Switch every process at once: they all read the active model per request."""
        raw = swap.model_dump_json()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.active_model, raw)
            pipe.lpush(self._keys.model_history, raw)
            pipe.ltrim(self._keys.model_history, 0, HISTORY_LIMIT - 1)
            await pipe.execute()

    async def history(self, limit: int = 20) -> list[ModelSwap]:
        raws = await self._redis.lrange(self._keys.model_history, 0, limit - 1)
        return [ModelSwap.model_validate_json(raw) for raw in raws]

    async def mark_gone(self, ref: str, day: date) -> None:
        """`ref` (`provider:model`) no longer answers: its provider shut it down."""
        await self._redis.hsetnx(self._keys.gone_models, ref, day.isoformat())

    async def gone(self) -> set[str]:
        return set(await self._redis.hkeys(self._keys.gone_models))

    async def back(self, ref: str) -> None:
        """`ref` answered again (switched to by hand after all)."""
        await self._redis.hdel(self._keys.gone_models, ref)
