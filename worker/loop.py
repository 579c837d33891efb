"""The worker's loop: heartbeat, requeue dead workers' jobs, take a job, train it, finish it.

Training runs in a thread, so the event loop keeps the heartbeat going and carries the
progress writes the training thread asks for. Errors people see are one sentence; the stack
trace goes to this process's log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
from collections.abc import Callable

from redis.asyncio import Redis

from storage.keys import Keys
from storage.local_jobs import (
    CANCELLED,
    FAILED,
    HEARTBEAT_TTL,
    SUCCEEDED,
    LocalJob,
    LocalJobStore,
)
from worker.config import WorkerSettings
from worker.run import Report, Stopped, Trained, TrainingError, TrainingRun

logger = logging.getLogger(__name__)

REPORT_TIMEOUT = 30.0  # seconds a training step waits for its progress write


def output_name(job: LocalJob) -> str:
    """A name vLLM and file systems accept: the suffix (or "lora") and the job's short id."""
    stem = re.sub(r"[^a-z0-9-]+", "-", (job.suffix or "lora").lower()).strip("-")[:40] or "lora"
    return f"{stem}-{job.id.removeprefix('localjob-')[:8]}"


class Worker:
    def __init__(
        self,
        settings: WorkerSettings,
        redis: Redis,
        train: Callable[[TrainingRun, Report], Trained | Stopped],
    ) -> None:
        self.settings = settings
        self.id = settings.worker_id
        self.store = LocalJobStore(redis, Keys(settings.redis_prefix))
        self._train = train
        # Set from a signal handler; the training thread reads it at every step.
        self._stopping = threading.Event()

    def stop(self) -> None:
        """Stop after the current step (the job goes back to the queue) or the current poll."""
        logger.info("worker: stopping")
        self._stopping.set()

    async def run(self, *, once: bool = False) -> int:
        """Process jobs until stopped (or one job with `once`); returns how many it handled."""
        await self.store.beat(self.id)
        heartbeat = asyncio.create_task(self._heartbeat())
        handled = 0
        try:
            while not self._stopping.is_set():
                for job_id in await self.store.requeue_dead_workers():
                    logger.warning("worker: requeued %s from a worker that stopped", job_id)
                job_id = await self.store.take(self.id, self.settings.poll_seconds)
                if job_id is not None:
                    await self.process(job_id)
                    handled += 1
                if once:
                    break
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await self.store.leave(self.id)
        return handled

    async def process(self, job_id: str) -> None:
        outcome = await self.store.claim(job_id, self.id)
        logger.info("worker: job %s claimed: %s", job_id, outcome)
        if outcome != "run":
            return
        job = await self.store.get(job_id)
        assert job is not None  # claimed a moment ago
        try:
            result = await self._run_training(job)
        except Exception as exc:
            await self._fail(job, exc)
            return
        await self._record(job, result)

    async def _run_training(self, job: LocalJob) -> Trained | Stopped:
        training_file = await self.store.load_file(job.training_file)
        if training_file is None:
            raise TrainingError(
                "The training file is no longer in Redis (kept 30 days); start the job again."
            )
        validation_file = (
            await self.store.load_file(job.validation_file) if job.validation_file else None
        )
        run = TrainingRun(
            base_model=job.base_model,
            training_file=training_file,
            validation_file=validation_file,
            epochs=job.epochs,
            adapter_dir=(self.settings.local_models_dir / output_name(job)).resolve(),
            hyperparameters=self.settings.hyperparameters,
        )
        report = self._reporter(job.id, asyncio.get_running_loop())
        return await asyncio.to_thread(self._train, run, report)

    def _reporter(self, job_id: str, loop: asyncio.AbstractEventLoop) -> Report:
        def report(event: str | None = None, **fields: object) -> str:
            if self._stopping.is_set():
                return "shutdown"
            write = self.store.progress(job_id, self.id, event=event, **fields)
            try:
                return asyncio.run_coroutine_threadsafe(write, loop).result(REPORT_TIMEOUT)
            except Exception:
                # A Redis hiccup must not throw away hours of training; the next step retries.
                logger.warning("worker: could not record progress of %s", job_id, exc_info=True)
                return "continue"

        return report

    async def _record(self, job: LocalJob, result: Trained | Stopped) -> None:
        if isinstance(result, Stopped):
            at = f"at step {result.step} of {result.total_steps}"
            if result.reason == "cancel":
                await self.store.finish(
                    job.id, self.id, CANCELLED, f"Cancelled {at}.", step=result.step
                )
            elif result.reason == "shutdown":
                await self.store.release(
                    job.id, self.id, f"Worker {self.id} stopped {at}; the job is queued again."
                )
            logger.info("worker: job %s stopped (%s) %s", job.id, result.reason, at)
            return
        name = result.adapter_dir.name
        finished = await self.store.finish(
            job.id,
            self.id,
            SUCCEEDED,
            f"Adapter {name} saved; {result.trained_tokens} tokens trained.",
            output_model=name,
            adapter_path=str(result.adapter_dir),
            trained_tokens=result.trained_tokens,
            step=result.step,
            total_steps=result.total_steps,
            train_loss=None if result.train_loss is None else round(result.train_loss, 4),
        )
        logger.info("worker: job %s succeeded: %s (recorded: %s)", job.id, name, finished)

    async def _fail(self, job: LocalJob, exc: Exception) -> None:
        if isinstance(exc, TrainingError):
            logger.warning("worker: job %s failed: %s", job.id, exc)
            error = str(exc)
        elif type(exc).__name__ == "OutOfMemoryError":  # torch's, without importing torch here
            logger.exception("worker: job %s ran out of GPU memory", job.id)
            error = (
                "The GPU ran out of memory; lower BATCH_SIZE or MAX_SEQ_LENGTH on the worker "
                "and start the job again."
            )
        else:
            logger.exception("worker: job %s crashed", job.id)
            error = (
                f"Training failed on the local worker ({type(exc).__name__}); "
                "see the worker's log for details."
            )
        await self.store.finish(job.id, self.id, FAILED, error, error=error)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_TTL / 3)
            try:
                await self.store.beat(self.id)
            except Exception:
                logger.warning("worker: heartbeat failed", exc_info=True)
