"""The Redis contract between the bot and the local GPU worker (`python -m worker`).

The bot stores uploaded JSONL files, queues jobs and asks for cancels; workers take jobs,
report progress and finish them. Pure Redis and pydantic: nothing here imports torch.

Longer than 400 lines (files, queue, job state, heartbeats, 8 Lua scripts) because this is the
home-made queue issue 21 moves onto a maintained task engine (SAQ is the pick; see its closing
note); it is not split meanwhile, since the engine replaces most of it.

- Files: `local:file:<id>` hashes holding the JSONL gzip'd and base64'd, kept `FILE_TTL`.
- Queue: the bot LPUSHes job ids onto `local:queue`; a worker BLMOVEs the oldest into its own
  `local:processing:<worker>` list, so a job taken by a worker that then dies is found again.
- Jobs: `local:job:<id>` hashes (spec, status, progress, result) and `local:job-events:<id>`
  lists (newest first, capped). `local:job-ref:<ref>` makes creation idempotent by our ref.
- Heartbeats: a worker renews `local:worker:<id>` (TTL `HEARTBEAT_TTL`) while it lives. Any
  worker that starts or polls puts the jobs of a worker whose heartbeat expired back at the
  front of the queue. A job is started at most `MAX_ATTEMPTS` times: a job whose worker died
  twice (often out of memory on that very job) fails with a sentence saying so instead of
  killing workers forever.
- Cancel: a queued job is cancelled at once; a running one gets `cancel_requested`, which the
  worker reads at every training step.

Every transition is one Lua script over keys of the bot's one hash tag, so it works on
Redis Cluster and never half-happens.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import secrets
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis

from storage import scripts
from storage.keys import Keys
from storage.schemas import utcnow

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

EVENTS_LIMIT = 50
FILE_TTL = 30 * 24 * 3600  # seconds an uploaded file waits for its job

# KEYS: the file. ARGV: sha256, bytes, gzip_b64. 0 if the file is gone.
_REPLACE_FILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'sha256', ARGV[1], 'bytes', ARGV[2], 'gzip_b64', ARGV[3])
return 1
"""
HEARTBEAT_TTL = 30.0  # seconds without a heartbeat after which a worker counts as dead
MAX_ATTEMPTS = 2

DIED_TOO_OFTEN = (
    "The local worker stopped twice while training this job (out of memory?); "
    "check the worker's log, then start the job again."
)

_TERMINAL_LUA = "status == 'succeeded' or status == 'failed' or status == 'cancelled'"

# KEYS: ref, job, events, queue. ARGV: job id, event, events limit, field/value pairs...
# Returns the id of the job for this ref: the existing one, or the one just queued.
_CREATE = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], unpack(ARGV, 4))
redis.call('LPUSH', KEYS[3], ARGV[2])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[3]) - 1)
redis.call('LPUSH', KEYS[4], ARGV[1])
return ARGV[1]
"""

# KEYS: job, events, processing. ARGV: job id, worker, now, max attempts, error, start event,
# events limit. Returns what the worker should do: run, gone, skip, cancelled, failed.
_CLAIM = f"""
local function note(text)
  redis.call('LPUSH', KEYS[2], text)
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[7]) - 1)
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  return 'gone'
end
local status = redis.call('HGET', KEYS[1], 'status')
if {_TERMINAL_LUA} then
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  return 'skip'
end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[3], 'updated_at', ARGV[3])
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  note('Cancelled before training started.')
  return 'cancelled'
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', ARGV[5],
             'finished_at', ARGV[3], 'updated_at', ARGV[3])
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  note(ARGV[5])
  return 'failed'
end
redis.call('HSET', KEYS[1], 'status', 'running', 'worker', ARGV[2],
           'started_at', ARGV[3], 'updated_at', ARGV[3])
redis.call('HDEL', KEYS[1], 'step', 'total_steps', 'train_loss')
note(ARGV[6])
return 'run'
"""

# KEYS: job, events. ARGV: worker, now, event ('' for none), events limit, field/value pairs...
# Returns 'continue', 'cancel' (stop at this step) or 'lost' (the job is no longer ours).
_PROGRESS = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running'
   or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then
  return 'lost'
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[2], ARGV[3])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
end
if redis.call('HGET', KEYS[1], 'cancel_requested') == '1' then return 'cancel' end
return 'continue'
"""

# KEYS: job, events, processing. ARGV: job id, worker, status, now, event, events limit,
# field/value pairs... Moves a running job of this worker to a final state; 1 if it did.
_FINISH = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running'
   or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'finished_at', ARGV[4], 'updated_at', ARGV[4])
if #ARGV > 6 then redis.call('HSET', KEYS[1], unpack(ARGV, 7)) end
redis.call('LREM', KEYS[3], 0, ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[5])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
return 1
"""

# KEYS: job, events, processing, queue. ARGV: job id, worker, now, event, events limit.
# A worker that stops on purpose hands its job back: queued again, this start not counted.
_RELEASE = """
redis.call('LREM', KEYS[3], 0, ARGV[1])
if redis.call('HGET', KEYS[1], 'status') ~= 'running'
   or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[2] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'updated_at', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'attempts', -1)
redis.call('HDEL', KEYS[1], 'worker')
redis.call('RPUSH', KEYS[4], ARGV[1])
redis.call('LPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
return 1
"""

# KEYS: heartbeat, processing, queue, workers. ARGV: worker id.
# If the worker's heartbeat expired, put its jobs at the front of the queue; returns their ids.
_REQUEUE_DEAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {} end
local ids = redis.call('LRANGE', KEYS[2], 0, -1)
for i = #ids, 1, -1 do redis.call('RPUSH', KEYS[3], ids[i]) end
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[1])
return ids
"""

# KEYS: job, events. ARGV: dead worker, now, event, events limit.
_MARK_REQUEUED = """
if redis.call('HGET', KEYS[1], 'status') ~= 'running'
   or redis.call('HGET', KEYS[1], 'worker') ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'status', 'queued', 'updated_at', ARGV[2])
redis.call('HDEL', KEYS[1], 'worker')
redis.call('LPUSH', KEYS[2], ARGV[3])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
return 1
"""

# KEYS: job, events, queue. ARGV: job id, now, events limit.
# Returns the outcome: 'gone', the final status it already had, 'cancelled' or 'requested'.
_CANCEL = f"""
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 'gone' end
if {_TERMINAL_LUA} then return status end
local function note(text)
  redis.call('LPUSH', KEYS[2], text)
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
end
redis.call('HSET', KEYS[1], 'cancel_requested', '1', 'updated_at', ARGV[2])
if status == 'queued' then
  redis.call('LREM', KEYS[3], 0, ARGV[1])
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[2])
  note('Cancelled before a worker started it.')
  return 'cancelled'
end
note('Cancel requested; the worker stops at its next training step.')
return 'requested'
"""

ClaimOutcome = Literal["run", "gone", "skip", "cancelled", "failed"]
ProgressOutcome = Literal["continue", "cancel", "lost"]


class LocalJob(BaseModel):
    """One job of the local backend, as stored in its Redis hash."""

    id: str
    ref: str
    status: str = QUEUED
    base_model: str
    epochs: int
    suffix: str | None = None
    training_file: str
    validation_file: str | None = None
    dataset_sha256: str = ""
    bot: str = ""
    output_model: str | None = None  # the adapter's name, which chat requests use as `model`
    adapter_path: str | None = None  # where the worker wrote it
    error: str | None = None
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    trained_tokens: int | None = None
    worker: str | None = None
    attempts: int = 0
    cancel_requested: bool = False
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


def new_job_id() -> str:
    return f"localjob-{secrets.token_hex(6)}"


def _fields(values: dict[str, object]) -> list[str]:
    """Flatten to HSET arguments; None values are left out (absent field = None)."""
    flat: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "1" if value else "0"
        elif isinstance(value, datetime):
            value = value.isoformat()
        flat += [name, str(value)]
    return flat


def _now() -> str:
    return utcnow().isoformat()


class LocalJobStore:
    def __init__(self, redis: Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._create = scripts.register(redis, _CREATE)
        self._claim = scripts.register(redis, _CLAIM)
        self._progress = scripts.register(redis, _PROGRESS)
        self._finish = scripts.register(redis, _FINISH)
        self._release = scripts.register(redis, _RELEASE)
        self._requeue_dead = scripts.register(redis, _REQUEUE_DEAD)
        self._mark_requeued = scripts.register(redis, _MARK_REQUEUED)
        self._cancel = scripts.register(redis, _CANCEL)
        self._replace_file = scripts.register(redis, _REPLACE_FILE)

    # Files -------------------------------------------------------------------------------

    async def save_file(self, content: bytes, filename: str) -> str:
        file_id = f"localfile-{secrets.token_hex(6)}"
        key = self._keys.local_file(file_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                key,
                mapping={
                    "filename": filename,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "bytes": len(content),
                    "gzip_b64": base64.b64encode(gzip.compress(content)).decode("ascii"),
                    "created_at": _now(),
                },
            )
            pipe.expire(key, FILE_TTL)
            await pipe.execute()
        return file_id

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        """New content for a file that still exists (same id, name and expiry)."""
        replaced = await self._replace_file(
            keys=[self._keys.local_file(file_id)],
            args=[
                hashlib.sha256(content).hexdigest(),
                len(content),
                base64.b64encode(gzip.compress(content)).decode("ascii"),
            ],
        )
        return bool(replaced)

    async def delete_file(self, file_id: str) -> None:
        await self._redis.delete(self._keys.local_file(file_id))

    async def load_file(self, file_id: str) -> bytes | None:
        packed = await self._redis.hget(self._keys.local_file(file_id), "gzip_b64")
        return gzip.decompress(base64.b64decode(packed)) if packed else None

    # Jobs, bot side ----------------------------------------------------------------------

    async def create(self, job: LocalJob) -> LocalJob:
        """Queue `job`, or return the job already created for its ref."""
        job_id = await self._create(
            keys=[
                self._keys.local_job_ref(job.ref),
                self._keys.local_job(job.id),
                self._keys.local_job_events(job.id),
                self._keys.local_queue,
            ],
            args=[
                job.id,
                "Job queued; waiting for a local worker.",
                EVENTS_LIMIT,
                *_fields(job.model_dump()),
            ],
        )
        found = await self.get(job_id)
        if found is None:  # only if someone deleted it between the two calls
            raise LookupError(f"local job {job_id} vanished right after creation")
        return found

    async def find_by_ref(self, ref: str) -> LocalJob | None:
        job_id = await self._redis.get(self._keys.local_job_ref(ref))
        return await self.get(job_id) if job_id else None

    async def get(self, job_id: str) -> LocalJob | None:
        raw = await self._redis.hgetall(self._keys.local_job(job_id))
        return LocalJob.model_validate(raw) if raw else None

    async def events(self, job_id: str, limit: int = 10) -> list[str]:
        return await self._redis.lrange(self._keys.local_job_events(job_id), 0, limit - 1)

    async def cancel(self, job_id: str) -> str:
        """Cancel a queued job now, or ask its worker to stop; returns what happened."""
        return await self._cancel(
            keys=[
                self._keys.local_job(job_id),
                self._keys.local_job_events(job_id),
                self._keys.local_queue,
            ],
            args=[job_id, _now(), EVENTS_LIMIT],
        )

    async def is_alive(self, worker_id: str) -> bool:
        return bool(await self._redis.exists(self._keys.local_worker(worker_id)))

    async def live_workers(self) -> list[str]:
        workers = sorted(await self._redis.smembers(self._keys.local_workers))
        if not workers:
            return []
        alive = await self._redis.mget([self._keys.local_worker(w) for w in workers])
        return [w for w, beat in zip(workers, alive, strict=True) if beat is not None]

    # Jobs, worker side -------------------------------------------------------------------

    async def beat(self, worker_id: str, ttl: float = HEARTBEAT_TTL) -> None:
        """Say this worker is alive for `ttl` more seconds."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._keys.local_worker(worker_id), _now(), px=int(ttl * 1000))
            pipe.sadd(self._keys.local_workers, worker_id)
            await pipe.execute()

    async def leave(self, worker_id: str) -> None:
        """A worker stopping cleanly (holding no job) forgets itself."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._keys.local_worker(worker_id))
            pipe.srem(self._keys.local_workers, worker_id)
            await pipe.execute()

    async def requeue_dead_workers(self) -> list[str]:
        """Put back the jobs of workers whose heartbeat expired; returns the job ids."""
        requeued: list[str] = []
        for worker_id in await self._redis.smembers(self._keys.local_workers):
            ids = await self._requeue_dead(
                keys=[
                    self._keys.local_worker(worker_id),
                    self._keys.local_processing(worker_id),
                    self._keys.local_queue,
                    self._keys.local_workers,
                ],
                args=[worker_id],
            )
            for job_id in ids:
                await self._mark_requeued(
                    keys=[self._keys.local_job(job_id), self._keys.local_job_events(job_id)],
                    args=[
                        worker_id,
                        _now(),
                        f"Worker {worker_id} stopped answering; the job is queued again.",
                        EVENTS_LIMIT,
                    ],
                )
            requeued += ids
        return requeued

    async def take(self, worker_id: str, timeout: float) -> str | None:
        """The oldest queued job id, moved into this worker's processing list."""
        return await self._redis.blmove(
            self._keys.local_queue,
            self._keys.local_processing(worker_id),
            timeout,
            "RIGHT",
            "LEFT",
        )

    async def claim(self, job_id: str, worker_id: str) -> ClaimOutcome:
        """Start a taken job: `run` means train it; anything else means it is dealt with."""
        return await self._claim(
            keys=[
                self._keys.local_job(job_id),
                self._keys.local_job_events(job_id),
                self._keys.local_processing(worker_id),
            ],
            args=[
                job_id,
                worker_id,
                _now(),
                MAX_ATTEMPTS,
                DIED_TOO_OFTEN,
                f"Worker {worker_id} started the job.",
                EVENTS_LIMIT,
            ],
        )

    async def progress(
        self, job_id: str, worker_id: str, *, event: str | None = None, **fields: object
    ) -> ProgressOutcome:
        """Record progress (step, total_steps, train_loss, ...); says whether to go on."""
        return await self._progress(
            keys=[self._keys.local_job(job_id), self._keys.local_job_events(job_id)],
            args=[worker_id, _now(), event or "", EVENTS_LIMIT, *_fields(fields)],
        )

    async def finish(
        self, job_id: str, worker_id: str, status: str, event: str, **fields: object
    ) -> bool:
        """Move this worker's running job to `status` (a final one) with its result."""
        if status not in TERMINAL:
            raise ValueError(f"not a final status: {status}")
        moved = await self._finish(
            keys=[
                self._keys.local_job(job_id),
                self._keys.local_job_events(job_id),
                self._keys.local_processing(worker_id),
            ],
            args=[job_id, worker_id, status, _now(), event, EVENTS_LIMIT, *_fields(fields)],
        )
        return bool(moved)

    async def release(self, job_id: str, worker_id: str, event: str) -> bool:
        """Hand a running job back to the queue (the worker is stopping on purpose)."""
        moved = await self._release(
            keys=[
                self._keys.local_job(job_id),
                self._keys.local_job_events(job_id),
                self._keys.local_processing(worker_id),
                self._keys.local_queue,
            ],
            args=[job_id, worker_id, _now(), event, EVENTS_LIMIT],
        )
        return bool(moved)
