"""Fine-tuning jobs: the one-active-job lock, job records, the watcher lease, export snapshots."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from datetime import date, datetime

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from storage import scripts
from storage.keys import Keys
from storage.schemas import MetricPoint, utcnow

TERMINAL = frozenset({"succeeded", "failed", "cancelled", "lost"})
FINISHED_LIMIT = 50

# Renew or take the lease only if it is ours or free. KEYS: lease; ARGV: holder, ttl ms
_CLAIM_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# Release the lock only if it still names this job. KEYS: lock; ARGV: job ref
_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Point the lock from a pending ref at the created job, once. KEYS: lock, active job
# ARGV: pending ref, job id. Returns 1 for the one caller that did it.
_ADOPT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[2])
return 1
"""

# Rename a job's snapshot with the job, in the index too. KEYS: old export, new export, index
# ARGV: old id, new id
_RENAME_EXPORT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('RENAME', KEYS[1], KEYS[2]) end
if redis.call('SREM', KEYS[3], ARGV[1]) == 1 then redis.call('SADD', KEYS[3], ARGV[2]) end
return 1
"""

# Add keys of forgotten conversations to a snapshot that still exists. KEYS: export hash
# ARGV: the keys, newline-separated
_DROP_LINES = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local dropped = redis.call('HGET', KEYS[1], 'dropped') or ''
redis.call('HSET', KEYS[1], 'dropped', dropped .. ARGV[1] .. '\\n')
return 1
"""

# Move a job to a terminal state exactly once. KEYS: job, finished list, lock, active job
# ARGV: new json, job id, finished list limit. Returns 1 if this call moved it.
_FINISH = """
local current = redis.call('GET', KEYS[1])
if current then
  local status = cjson.decode(current)['status']
  if status == 'succeeded' or status == 'failed' or status == 'cancelled'
     or status == 'lost' then
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
if redis.call('GET', KEYS[3]) == ARGV[2] then redis.call('DEL', KEYS[3]) end
if redis.call('GET', KEYS[4]) == ARGV[2] then redis.call('DEL', KEYS[4]) end
return 1
"""


class JobRecord(BaseModel):
    """What we know of one fine-tuning job, and where to report on it."""

    id: str  # the provider's job id once created; a local id before
    provider: str = "openai"  # the provider it trains on, which follows it to the end
    migration: bool = False  # started by `/finetune migrate`: its result is always compared
    promote_by: date | None = None  # a migration's gate swaps by this day (the old one's last)
    policy: str | None = None  # started by the training policy: why ("50 new examples since …")
    status: str = "preparing"
    base_model: str
    suffix: str | None = None
    method: str = "supervised"  # or "dpo"
    beta: float | None = None
    epochs: int
    started_by: str
    platform: str = "slack"
    channel: str
    status_message_ts: str | None = None
    examples: int
    tokens: int
    billed_tokens: int
    estimated_cost_usd: float | None = None
    training_file: str | None = None
    validation_file: str | None = None
    export_sha256: str | None = None
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    training_since: datetime | None = None  # the first step seen: the pace starts here
    # The training loss so far, averaged into at most TREND_POINTS buckets (the sparkline);
    # every step's losses are kept apart (`JobStore.metrics`) for the chart.
    loss_trend: list[float] = Field(default_factory=list)
    error: str | None = None
    comparison: str | None = None  # the swap gate's state and tally, once the job succeeded
    events: list[str] = Field(default_factory=list)
    system_prompt: str | None = None
    prompt_tokens_saved: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


class JobStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._claim = scripts.register(redis, _CLAIM_LEASE)
        self._release = scripts.register(redis, _RELEASE_LOCK)
        self._finish = scripts.register(redis, _FINISH)
        self._adopt = scripts.register(redis, _ADOPT)
        self._rename_export = scripts.register(redis, _RENAME_EXPORT)
        self._drop_lines = scripts.register(redis, _DROP_LINES)

    # The one-active-job lock --------------------------------------------------------------

    async def try_lock(self, ref: str, ttl_seconds: int) -> str | None:
        """Take the lock for `ref`; None on success, else the ref that holds it."""
        if await self._redis.set(self._keys.job_lock, ref, nx=True, ex=ttl_seconds):
            return None
        return await self._redis.get(self._keys.job_lock) or ""

    async def adopt(self, ref: str, job_id: str) -> bool:
        """Move the lock from the pending `ref` to the created job; True for the one winner.

        The job then holds the lock until it finishes, and becomes the one the watcher follows.
        """
        return bool(
            await self._adopt(keys=[self._keys.job_lock, self._keys.active_job], args=[ref, job_id])
        )

    async def lock_holder(self) -> str | None:
        return await self._redis.get(self._keys.job_lock)

    async def unlock(self, ref: str) -> None:
        await self._release(keys=[self._keys.job_lock], args=[ref])

    async def active_job_id(self) -> str | None:
        return await self._redis.get(self._keys.active_job)

    # Records -----------------------------------------------------------------------------

    async def save(self, job: JobRecord) -> None:
        await self._redis.set(self._keys.job(job.id), job.model_dump_json())

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self._redis.get(self._keys.job(job_id))
        return JobRecord.model_validate_json(raw) if raw else None

    async def delete(self, job_id: str) -> None:
        """Forget a local (pending) record once the provider's job id replaces it."""
        await self._redis.delete(self._keys.job(job_id))
        await self.drop_export(job_id)

    async def rename_export(self, old_id: str, new_id: str) -> None:
        k = self._keys
        await self._rename_export(
            keys=[k.job_export(old_id), k.job_export(new_id), k.job_exports], args=[old_id, new_id]
        )

    async def finish(self, job: JobRecord) -> bool:
        """Record a terminal state; True only for the one caller that made the transition."""
        moved = await self._finish(
            keys=[
                self._keys.job(job.id),
                self._keys.finished_jobs,
                self._keys.job_lock,
                self._keys.active_job,
            ],
            args=[job.model_dump_json(), job.id, FINISHED_LIMIT],
        )
        return bool(moved)

    async def finished(self, limit: int = 5) -> list[JobRecord]:
        ids = await self._redis.lrange(self._keys.finished_jobs, 0, limit - 1)
        if not ids:
            return []
        raws = await self._redis.mget([self._keys.job(job_id) for job_id in ids])
        return [JobRecord.model_validate_json(raw) for raw in raws if raw]

    # The watcher lease -------------------------------------------------------------------

    async def claim_lease(self, holder: str, ttl_seconds: float) -> bool:
        ttl_ms = max(1, int(ttl_seconds * 1000))
        return bool(await self._claim(keys=[self._keys.watcher_lease], args=[holder, ttl_ms]))

    async def release_lease(self, holder: str) -> None:
        await self._release(keys=[self._keys.watcher_lease], args=[holder])

    # Losses per step, for the chart drawn when the job ends ------------------------------

    async def add_metrics(self, job_id: str, points: list[MetricPoint]) -> int:
        """Keep each step's losses; a step seen again (every poll re-reads recent events)
        is the same entry, so nothing is counted twice. Returns how many steps were new."""
        if not points:
            return 0
        return await self._redis.hset(
            self._keys.job_metrics(job_id),
            mapping={str(p.step): json.dumps([p.train_loss, p.valid_loss]) for p in points},
        )

    async def metrics(self, job_id: str) -> list[MetricPoint]:
        raw = await self._redis.hgetall(self._keys.job_metrics(job_id))
        points = [MetricPoint(int(step), *json.loads(losses)) for step, losses in raw.items()]
        return sorted(points, key=lambda point: point.step)

    # Export snapshots: exactly what a job was trained on ---------------------------------

    # A snapshot is a copy of conversations: it is indexed (`job_exports`) so that forgetting
    # reaches it, it carries the keys of conversations forgotten since it was made (`dropped`),
    # and it is dropped once the job and its gate have ended.

    async def save_export(self, job_id: str, name: str, content: bytes) -> str:
        digest = hashlib.sha256(content).hexdigest()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                self._keys.job_export(job_id),
                mapping={
                    f"{name}:sha256": digest,
                    # base64 so the text-decoding client can carry the gzip bytes.
                    f"{name}:jsonl.gz.b64": base64.b64encode(gzip.compress(content)).decode(),
                },
            )
            pipe.sadd(self._keys.job_exports, job_id)
            await pipe.execute()
        return digest

    async def load_export(self, job_id: str, name: str) -> bytes | None:
        """The snapshot as it was made; `dropped_lines` says what has been forgotten since."""
        packed = await self._redis.hget(self._keys.job_export(job_id), f"{name}:jsonl.gz.b64")
        return gzip.decompress(base64.b64decode(packed)) if packed else None

    async def with_exports(self) -> list[str]:
        return sorted(await self._redis.smembers(self._keys.job_exports))

    async def drop_lines(self, job_id: str, line_keys: set[str]) -> bool:
        """Mark conversations (by key) as forgotten in the job's snapshot; False if it has none."""
        if not line_keys:
            return False
        joined = "\n".join(sorted(line_keys))
        return bool(await self._drop_lines(keys=[self._keys.job_export(job_id)], args=[joined]))

    async def dropped_lines(self, job_id: str) -> set[str]:
        raw = await self._redis.hget(self._keys.job_export(job_id), "dropped") or ""
        return {key for key in raw.split("\n") if key}

    async def drop_export(self, job_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.job_export(job_id))
            pipe.srem(self._keys.job_exports, job_id)
            await pipe.execute()
