"""The worker: a SAQ worker with one function that trains one job at a time.

SAQ takes jobs, says this worker is alive, puts back the jobs of workers that died (its
sweep) and aborts cancelled ones. We train in a thread, so the event loop keeps the job's
heartbeat going and carries the progress writes the training thread asks for. A cancel or a
shutdown reaches the training at its next step: SAQ cancels our task, we tell the thread to
stop and wait for it. Errors people see are one sentence; the stack trace goes to this
process's log.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import saq
from redis.asyncio import Redis
from redis.exceptions import RedisError

from storage.gpu_queue import CANCELLED, FAILED, FUNCTION, SUCCEEDED, GpuQueue
from worker.config import WorkerSettings
from worker.run import Report, Stopped, Trained, TrainingError, TrainingRun

logger = logging.getLogger(__name__)

REPORT_TIMEOUT = 30.0  # seconds a training step waits for its progress write
STOP_DEADLINE = 600.0  # seconds one training step may take to notice a cancel or a shutdown


class _QuietOutages(logging.Filter):
    """SAQ logs a traceback every second (each upkeep task) while Redis is down. One line per
    `every` seconds says the same."""

    def __init__(self, every: float = 30.0) -> None:
        super().__init__()
        self._every = every
        self._last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if not isinstance(error, RedisError | OSError):
            return True
        now = time.monotonic()
        if now - self._last < self._every:
            return False
        self._last = now
        record.msg, record.args = f"{record.getMessage()}: Redis unreachable ({error})", ()
        record.exc_info = record.exc_text = None
        return True


logging.getLogger("saq").addFilter(_QuietOutages())


def output_name(job_id: str, suffix: str | None) -> str:
    """A name vLLM and file systems accept: the suffix (or "lora") and the job's short id."""
    stem = re.sub(r"[^a-z0-9-]+", "-", (suffix or "lora").lower()).strip("-")[:40] or "lora"
    return f"{stem}-{job_id.removeprefix('localjob-')[:8]}"


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        train: Callable[[TrainingRun, Report], Trained | Stopped],
    ) -> None:
        self.settings = settings
        self.id = settings.worker_id
        # SAQ reads bytes: this client must not decode responses.
        redis = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
        self.gpu = GpuQueue(redis, settings.redis_prefix)
        self._train = train
        self._handled = 0
        self._saq: saq.Worker | None = None

    async def reachable(self) -> str | None:
        """None if the queue's Redis answers; else why not, in words (no URL: it may hold a
        password)."""
        try:
            await self.gpu.saq.redis.ping()
        except (RedisError, OSError) as error:
            await self.gpu.close()
            return str(error)
        return None

    def stop(self) -> None:
        """Stop after the current step (the job goes back to the queue) or the current poll."""
        logger.info("worker: stopping")
        if self._saq is not None:
            self._saq.event.set()

    async def run(self, *, once: bool = False) -> int:
        """Process jobs until stopped (SIGINT/SIGTERM, or one job with `once`); returns how
        many it trained."""
        self._saq = saq.Worker(
            self.gpu.saq,
            functions=[(FUNCTION, self._handle)],
            id=self.id,
            concurrency=1,  # one GPU, one job
            dequeue_timeout=self.settings.poll_seconds,
            burst=once,
            max_burst_jobs=1 if once else None,
            timers={"sweep": self.settings.sweep_seconds},
            cancellation_hard_deadline_s=STOP_DEADLINE,
        )
        try:
            await self._saq.start()
        finally:
            await self.gpu.leave(self.id)
            await self.gpu.close()
        return self._handled

    async def _handle(self, ctx: dict[str, Any], *, spec: dict[str, Any]) -> dict[str, Any]:
        job: saq.Job = ctx["job"]
        if await self.gpu.cancelled_while_taken(job):
            await self.gpu.record(job.key, "Cancelled before training started.")
            return {"outcome": CANCELLED}
        await job.update(heartbeat=self.settings.heartbeat_seconds)
        await self.gpu.restart_progress(job.key)
        await self.gpu.record(job.key, f"Worker {self.id} started the job.")
        logger.info("worker: job %s started (attempt %s)", job.key, job.attempts)
        self._handled += 1
        stop, lost = threading.Event(), threading.Event()
        beating = asyncio.create_task(self._heartbeat(job, lost))
        try:
            return await self._train_job(job, spec, stop, lost)
        finally:
            beating.cancel()

    async def _train_job(
        self, job: saq.Job, spec: dict[str, Any], stop: threading.Event, lost: threading.Event
    ) -> dict[str, Any]:
        try:
            run = await self._training_run(job.key, spec)
        except TrainingError as exc:
            return await self._failed(job, exc)
        report = self._reporter(job.key, stop, lost, asyncio.get_running_loop())
        training = asyncio.ensure_future(asyncio.to_thread(self._train, run, report))
        try:
            result = await asyncio.shield(training)
        except asyncio.CancelledError:
            # SAQ cancels us for a cancel from chat or for a shutdown: stop at the next step.
            stop.set()
            try:
                result = await training
            except Exception:
                logger.exception("worker: job %s crashed while stopping", job.key)
                raise asyncio.CancelledError from None
            await self._stopped(job, result)
            raise
        except Exception as exc:
            return await self._failed(job, exc)
        if isinstance(result, Stopped):
            # Only "lost" ends training here: the job was given to another worker after this
            # one looked dead. A cancelled function is the one exit on which SAQ leaves the
            # job record alone, so the other worker's run is not overwritten.
            logger.warning("worker: job %s was taken over by another worker", job.key)
            raise asyncio.CancelledError
        return await self._succeeded(job, result)

    async def _training_run(self, job_id: str, spec: dict[str, Any]) -> TrainingRun:
        training_file = await self.gpu.load_file(spec["training_file"])
        if training_file is None:
            raise TrainingError(
                "The training file is no longer in Redis (kept 30 days); start the job again."
            )
        validation = spec.get("validation_file")
        return TrainingRun(
            base_model=spec["base_model"],
            training_file=training_file,
            validation_file=await self.gpu.load_file(validation) if validation else None,
            epochs=int(spec["epochs"]),
            adapter_dir=(
                self.settings.local_models_dir / output_name(job_id, spec.get("suffix"))
            ).resolve(),
            hyperparameters=self.settings.hyperparameters,
        )

    def _reporter(
        self,
        job_id: str,
        stop: threading.Event,
        lost: threading.Event,
        loop: asyncio.AbstractEventLoop,
    ) -> Report:
        def report(event: str | None = None, **fields: object) -> str:
            if lost.is_set():
                return "lost"
            if stop.is_set():
                return "cancel"
            write = self.gpu.record(job_id, event, **fields)
            try:
                asyncio.run_coroutine_threadsafe(write, loop).result(REPORT_TIMEOUT)
            except Exception:
                # A Redis hiccup must not throw away hours of training; the next step retries.
                logger.warning("worker: could not record progress of %s", job_id, exc_info=True)
            return "continue"

        return report

    async def _heartbeat(self, job: saq.Job, lost: threading.Event) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_seconds / 3)
            try:
                if not await self.gpu.holds(job.key, self.id):
                    lost.set()
                    return
                await job.update()  # SAQ's heartbeat: the sweep leaves a touched job alone
            except Exception:
                logger.warning("worker: heartbeat of %s failed", job.key, exc_info=True)

    async def _stopped(self, job: saq.Job, result: Trained | Stopped) -> None:
        at = f"at step {result.step} of {result.total_steps}"
        if self._saq is not None and self._saq.event.is_set():
            # Stopping on purpose hands the job back; SAQ queues it again, and this start is
            # not counted against the job's attempts.
            job.attempts -= 1
            await self.gpu.record(
                job.key, f"Worker {self.id} stopped {at}; the job is queued again."
            )
        else:
            await self.gpu.record(job.key, f"Cancelled {at}.", step=result.step)
        logger.info("worker: job %s stopped %s", job.key, at)

    async def _succeeded(self, job: saq.Job, result: Trained) -> dict[str, Any]:
        name = result.adapter_dir.name
        fields = {
            "output_model": name,
            "adapter_path": str(result.adapter_dir),
            "trained_tokens": result.trained_tokens,
            "step": result.step,
            "total_steps": result.total_steps,
            "train_loss": None if result.train_loss is None else round(result.train_loss, 4),
        }
        await self.gpu.record(
            job.key, f"Adapter {name} saved; {result.trained_tokens} tokens trained.", **fields
        )
        logger.info("worker: job %s succeeded: %s", job.key, name)
        return {"outcome": SUCCEEDED, **fields}

    async def _failed(self, job: saq.Job, exc: Exception) -> dict[str, Any]:
        if isinstance(exc, TrainingError):
            logger.warning("worker: job %s failed: %s", job.key, exc)
            error = str(exc)
        elif type(exc).__name__ == "OutOfMemoryError":  # torch's, without importing torch here
            logger.error("worker: job %s ran out of GPU memory", job.key, exc_info=exc)
            error = (
                "The GPU ran out of memory; lower BATCH_SIZE or MAX_SEQ_LENGTH on the worker "
                "and start the job again."
            )
        else:
            logger.error("worker: job %s crashed", job.key, exc_info=exc)
            error = (
                f"Training failed on the local worker ({type(exc).__name__}); "
                "see the worker's log for details."
            )
        await self.gpu.record(job.key, error)
        return {"outcome": FAILED, "error": error}
