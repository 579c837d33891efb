"""The contract between the bot and the local GPU workers (`python -m worker`), on SAQ.

SAQ (https://github.com/tobymao/saq, pinned to 0.26) owns the job's life: the queue, which
worker holds a job, heartbeats, putting back the job of a worker that died (its "sweep"),
retries and abort. Around it we keep what SAQ does not: the training files, and each job's
progress record and events, which only the worker (and, for cancel notes, the bot) write.
Pure Redis and pydantic: nothing here imports torch.

- Jobs: one SAQ job per training job, its key our job id. The id is derived from our ref
  (`job_id_for`), so creating a job twice finds the first. Kept forever (`ttl=0`), no time
  limit, a heartbeat, and at most `MAX_ATTEMPTS` starts: a job whose worker died twice (often
  out of memory on that very job) fails with a sentence instead of killing workers forever.
- The job's function returns an outcome ({"outcome": "succeeded" | "failed" | "cancelled", ...}):
  SAQ's "complete" means the worker is done with it, the outcome says how it went.
- Files: `local:file:<id>` hashes holding the JSONL gzip'd and base64'd, kept `FILE_TTL`.
- Progress: `local:progress:<id>` (step, loss, adapter...) and `local:job-events:<id>` (newest
  first, capped). Kept apart from SAQ's job record, which SAQ rewrites whole at every change.

SAQ reads its keys as bytes, so the Redis client here must not decode responses. Its keys share
the bot's hash tag, but SAQ's checks (INFO, pub/sub) expect one server: on Redis Cluster the
queue lives on a plain Redis beside it (GPU_QUEUE_URL).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import logging
import secrets
from typing import Literal

from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from saq import Job, Status
from saq.queue.redis import RedisQueue

from storage import scripts
from storage.keys import Keys
from storage.schemas import utcnow

logger = logging.getLogger(__name__)

FUNCTION = "train_lora"
UNREACHABLE_PAUSE_SECONDS = 2.0  # between attempts to take a job while Redis is down

QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

EVENTS_LIMIT = 50
FILE_TTL = 30 * 24 * 3600  # seconds an uploaded file waits for its job
HEARTBEAT_SECONDS = 30  # a job not touched for this long has lost its worker (the worker may
# set its own, shorter one when it starts the job)
MAX_ATTEMPTS = 2

DIED_TOO_OFTEN = (
    "The local worker stopped twice while training this job (out of memory?); "
    "check the worker's log, then start the job again."
)
CANCELLED_FROM_CHAT = "Cancelled from chat."
HANDLER_CRASHED = "Training failed on the local worker; see the worker's log for details."

# KEYS: the file. ARGV: sha256, bytes, gzip_b64. 0 if the file is gone.
_REPLACE_FILE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'sha256', ARGV[1], 'bytes', ARGV[2], 'gzip_b64', ARGV[3])
return 1
"""

Outcome = Literal["succeeded", "failed", "cancelled"]


class LocalJob(BaseModel):
    """One job of the local backend as the bot reads it: SAQ's record and our progress."""

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

    @property
    def is_finished(self) -> bool:
        return self.status in TERMINAL


def job_id_for(prefix: str, ref: str) -> str:
    """Our job id for a ref: the same ref always names the same job."""
    digest = hashlib.sha256(f"{prefix}\n{ref}".encode()).hexdigest()
    return f"localjob-{digest[:12]}"


def status_of(job: Job) -> str:
    """SAQ's status in our words (a "complete" job's outcome says how it went)."""
    if job.status in (Status.NEW, Status.QUEUED):
        return QUEUED
    if job.status in (Status.ACTIVE, Status.ABORTING):
        return RUNNING
    if job.status == Status.COMPLETE:
        return (job.result or {}).get("outcome", SUCCEEDED)
    if job.status == Status.ABORTED and job.error != DIED_TOO_OFTEN:
        return CANCELLED
    return FAILED


def _error_of(job: Job) -> str | None:
    if job.status == Status.COMPLETE:
        return (job.result or {}).get("error")
    if job.status == Status.ABORTED:
        return job.error if job.error == DIED_TOO_OFTEN else None
    if job.status == Status.FAILED:
        return HANDLER_CRASHED  # SAQ's error here is a traceback, never shown
    return None


class _Queue(RedisQueue):
    """SAQ's Redis queue with a sweep that does not take a job from a worker starting it.

    SAQ's sweep puts back every job in its active list whose status is not "active". A worker
    moves a job into that list (BLMOVE) a moment before it marks it active, so a sweep in that
    moment (every worker sweeps as it starts, as another takes a job) aborts and requeues a job
    that is fine. Here a job not marked active is swept only if this worker's previous sweep
    saw it so too; a job whose worker died mid-training is found by its heartbeat as before.
    """

    def __init__(self, redis: Redis, **options: object) -> None:
        super().__init__(redis, **options)
        self._unstarted: set[bytes] = set()
        self._unreachable = False

    async def dequeue(self, timeout: float = 0.0, poll_interval: float = 0.0) -> Job | None:
        # SAQ's worker asks again at once when taking a job fails: with Redis down that is a
        # busy loop (half a core here). Wait a moment instead, and say so once per outage.
        try:
            job = await super().dequeue(timeout, poll_interval)
        except (RedisConnectionError, RedisTimeoutError, OSError) as error:
            if not self._unreachable:
                logger.warning("gpu queue: Redis unreachable (%s); trying again", error)
            self._unreachable = True
            await asyncio.sleep(UNREACHABLE_PAUSE_SECONDS)
            return None
        if self._unreachable:
            logger.info("gpu queue: Redis reachable again")
        self._unreachable = False
        return job

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        if not await self.redis.set(self.namespace("sweep"), 1, ex=lock, nx=True):
            return []  # another worker swept within `lock` seconds
        swept: list[str] = []
        unstarted: set[bytes] = set()
        for job_id in await self.redis.lrange(self.namespace("active"), 0, -1):
            job = await self._get_job_by_id(job_id)
            if job is None:
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self.namespace("active"), 0, job_id)
                    pipe.zrem(self.namespace("incomplete"), job_id)
                    await pipe.execute()
            elif job.status in (Status.NEW, Status.QUEUED):
                unstarted.add(job_id)
                if job_id not in self._unstarted:
                    continue
                await self._put_back(job, abort)
            elif job.status != Status.ACTIVE or job.stuck:
                await self._put_back(job, abort)
            else:
                continue
            swept.append(job_id.decode())
        self._unstarted = unstarted
        return swept

    async def _put_back(self, job: Job, abort: float) -> None:
        """What SAQ's sweep does with a job it takes: abort it, give its worker `abort`
        seconds to let go, then retry it, or end it if it has no attempts left."""
        await self.abort(job, error=self.swept_error_message)
        with contextlib.suppress(TimeoutError):
            await job.refresh(abort)
        if job.retryable:
            await self.retry(job, error=self.swept_error_message)
        else:
            await self.finish(job, Status.ABORTED, error=self.swept_error_message)


def _text(value: bytes | str) -> str:
    """SAQ's client reads bytes; a client that decodes (the bot's own, for files) reads str."""
    return value.decode() if isinstance(value, bytes) else value


def _fields(values: dict[str, object]) -> dict[str, str]:
    """HSET arguments; None values are left out (absent field = None)."""
    return {name: str(value) for name, value in values.items() if value is not None}


class GpuQueue:
    """SAQ's queue for one bot, with the files and progress records around it."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._keys = Keys(prefix)
        self.saq = _Queue(redis, name=f"bot:{{{prefix}}}:gpu", swept_error_message=DIED_TOO_OFTEN)
        self._replace_file = scripts.register(redis, _REPLACE_FILE)

    async def close(self) -> None:
        # SAQ's disconnect unsubscribes first, which fails when Redis is down; close anyway.
        with contextlib.suppress(RedisError, OSError):
            await self.saq.disconnect()
        await self._redis.aclose()

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
                    "created_at": utcnow().isoformat(),
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

    async def create(self, ref: str, spec: dict[str, object]) -> LocalJob:
        """Queue the job for `ref`, or return the one already created for it."""
        job_id = job_id_for(self._prefix, ref)
        if await self.saq.job(job_id) is None:
            # SAQ enqueues a key at most once while it is unfinished; a finished one was
            # found just above, so a repeat never trains twice.
            await self.saq.enqueue(
                FUNCTION,
                key=job_id,
                spec={**spec, "ref": ref},
                timeout=0,  # training takes as long as it takes; the heartbeat finds the dead
                heartbeat=HEARTBEAT_SECONDS,
                retries=MAX_ATTEMPTS,
                ttl=0,
            )
            await self.note(job_id, "Job queued; waiting for a local worker.")
        found = await self.get(job_id)
        if found is None:  # only if someone deleted it between the two calls
            raise LookupError(f"local job {job_id} vanished right after creation")
        return found

    async def find_by_ref(self, ref: str) -> LocalJob | None:
        return await self.get(job_id_for(self._prefix, ref))

    async def get(self, job_id: str) -> LocalJob | None:
        job = await self.saq.job(job_id)
        if job is None:
            return None
        progress = await self._redis.hgetall(self._keys.local_progress(job_id))
        return LocalJob.model_validate(
            {
                **(job.kwargs or {}).get("spec", {}),
                **{_text(key): _text(value) for key, value in progress.items()},
                "id": job_id,
                "status": status_of(job),
                "error": _error_of(job),
                "worker": job.worker_id,
                "attempts": job.attempts,
                "cancel_requested": job.status == Status.ABORTING,
            }
        )

    async def events(self, job_id: str, limit: int = 10) -> list[str]:
        events = await self._redis.lrange(self._keys.local_job_events(job_id), 0, limit - 1)
        return [_text(event) for event in events]

    async def note(self, job_id: str, event: str) -> None:
        key = self._keys.local_job_events(job_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, event)
            pipe.ltrim(key, 0, EVENTS_LIMIT - 1)
            await pipe.execute()

    async def cancel(self, job_id: str) -> str:
        """Cancel a queued job now, or ask its worker to stop; returns what happened:
        'gone', the final status it already had, 'cancelled' or 'requested'."""
        job = await self.saq.job(job_id)
        if job is None:
            return "gone"
        if status_of(job) in TERMINAL:
            return status_of(job)
        if job.status != Status.ABORTING:
            await self.saq.abort(job, error=CANCELLED_FROM_CHAT)
        after = await self.saq.job(job_id)
        if after is not None and after.status == Status.ABORTED:
            await self.note(job_id, "Cancelled before a worker started it.")
            return CANCELLED
        await self.note(job_id, "Cancel requested; the worker stops at its next training step.")
        return "requested"

    async def live_workers(self) -> list[str]:
        """Workers that reported in within SAQ's worker-info interval."""
        return sorted((await self.saq.info())["workers"])

    # Jobs, worker side -------------------------------------------------------------------

    async def leave(self, worker_id: str) -> None:
        """A worker stopping forgets its SAQ worker info at once, instead of looking alive
        until that expires."""
        info = self.saq.namespace(f"worker_info:{worker_id}")
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(info)
            pipe.zrem(self.saq.namespace("stats"), info)
            await pipe.execute()

    async def holds(self, job_id: str, worker_id: str) -> bool:
        """Whether `worker_id` still holds the job: not cancelled to nothing, not handed to
        another worker after this one was thought dead."""
        job = await self.saq.job(job_id)
        return (
            job is not None
            and job.worker_id == worker_id
            and job.status in (Status.ACTIVE, Status.ABORTING)
        )

    async def cancelled_while_taken(self, job: Job) -> bool:
        """A cancel that came between SAQ taking the job and marking it active is lost from
        the job record (the worker's write wins) but leaves SAQ's abort key for a moment."""
        return bool(await self._redis.exists(job.abort_id))

    async def record(self, job_id: str, event: str | None = None, **fields: object) -> None:
        """The worker's progress: fields (step, total_steps, train_loss...) and an event."""
        values = _fields(fields)
        async with self._redis.pipeline(transaction=True) as pipe:
            if values:
                pipe.hset(self._keys.local_progress(job_id), mapping=values)
            if event:
                pipe.lpush(self._keys.local_job_events(job_id), event)
                pipe.ltrim(self._keys.local_job_events(job_id), 0, EVENTS_LIMIT - 1)
            await pipe.execute()

    async def restart_progress(self, job_id: str) -> None:
        """A new attempt starts from step 0."""
        await self._redis.delete(self._keys.local_progress(job_id))
