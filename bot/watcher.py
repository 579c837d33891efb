"""Follows the active fine-tuning job and swaps the model when it succeeds.

Several bot processes may share one Redis; a lease lets exactly one of them poll, and another
takes over when the holder dies. Webhooks call `check` directly from any process; the job's
terminal transition happens once (a Lua script), so the swap and announcement happen once.
The holder also finishes starts that lost their answer: a job created while the backend's
reply never reached us is found by its reference and adopted, never started twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime

from bot.errors import REDIS_DOWN
from bot.finetune import PENDING_PREFIX, JobReporter, adopt, spec_for
from bot.trainers.base import JobGone, JobProgress, Trainer, TrainerError
from storage.jobs import TERMINAL, JobRecord, JobStore
from storage.models import ModelStore, ModelSwap

logger = logging.getLogger(__name__)

# A start still "validating" after this long lost its process between upload and record.
STALE_START_SECONDS = 600


class JobWatcher:
    def __init__(
        self,
        trainer: Trainer,
        jobs: JobStore,
        models: ModelStore,
        reporter: JobReporter,
        *,
        poll_seconds: float,
        bot_name: str,
    ) -> None:
        self._trainer = trainer
        self._bot_name = bot_name
        self._jobs = jobs
        self._models = models
        self._reporter = reporter
        self._poll = poll_seconds
        self.holder = f"watcher-{uuid.uuid4().hex[:12]}"
        self._stopped = asyncio.Event()

    @property
    def lease_seconds(self) -> float:
        # Long enough to survive a slow poll, short enough that a dead holder is replaced soon.
        return max(3 * self._poll, 1.0)

    def stop(self) -> None:
        self._stopped.set()

    async def run(self) -> None:
        """Poll while holding the lease, until `stop()`.

        A stop flag rather than task cancellation alone: redis-py can swallow a cancellation
        that lands mid-command, which would leave the loop running.
        """
        try:
            while not self._stopped.is_set():
                await self.tick()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopped.wait(), timeout=self._poll)
        finally:
            # Hand the lease over at once on a clean stop; a dead process just lets it expire.
            with contextlib.suppress(*REDIS_DOWN, asyncio.TimeoutError):
                await asyncio.wait_for(self._jobs.release_lease(self.holder), timeout=2)

    async def tick(self) -> None:
        try:
            if not await self._jobs.claim_lease(self.holder, self.lease_seconds):
                return
            job_id = await self._jobs.active_job_id()
            if job_id:
                await self.check(job_id)
            else:
                await self.recover_start()
        except REDIS_DOWN:
            logger.warning("watcher: storage unavailable, will retry")
        except Exception:
            logger.exception("watcher: checking the active job failed")

    async def check(self, job_id: str) -> JobRecord | None:
        """Bring our record of a job up to date with the backend, and finish it if it ended."""
        job = await self._jobs.get(job_id)
        if job is None or job.is_finished:
            return job
        if job.provider != self._trainer.name:
            logger.warning("watcher: job %s belongs to %s, not followed", job_id, job.provider)
            return job
        try:
            progress = await self._trainer.job(job_id)
        except JobGone as error:
            job.status = "lost"
            job.error = f"{error} It will not be followed any further."
            await self._finish(job, None)
            return job
        except TrainerError:
            return job  # logged by the backend; the next poll tries again

        before = job.model_dump()
        _apply(job, progress)
        if job.status in TERMINAL:
            await self._finish(job, progress)
        elif job.model_dump() != before:
            await self._jobs.save(job)
            await self._reporter.show_job(job)
        return job

    async def recover_start(self) -> None:
        """Settle a start whose creation was never confirmed: adopt the job or free the lock."""
        holder = await self._jobs.lock_holder()
        if not holder or not holder.startswith(PENDING_PREFIX):
            return
        job = await self._jobs.get(holder)
        if job is None or job.status not in ("unconfirmed", "validating"):
            return
        age = (datetime.now(UTC) - job.created_at).total_seconds()
        if job.status == "validating" and age < STALE_START_SECONDS:
            return  # its process may still be creating it
        try:
            found = await self._trainer.find_job(spec_for(job, self._bot_name))
        except TrainerError:
            return
        if found is not None:
            if await adopt(self._jobs, job, found.id, found.status):
                logger.info("watcher: adopted job %s found for %s", found.id, holder)
                await self._reporter.show_job(job)
                await self._reporter.announce(
                    job,
                    f"{self._trainer.label} did create job `{job.id}` though its answer "
                    "was lost; I'm following it now.",
                )
            return
        job.status = "failed"
        job.error = f"{self._trainer.label} never created the job; nothing is running."
        job.finished_at = datetime.now(UTC)
        if await self._jobs.finish(job):
            await self._jobs.unlock(holder)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, f"{job.error} `/finetune start` tries again.")

    async def _finish(self, job: JobRecord, progress: JobProgress | None) -> None:
        job.finished_at = datetime.now(UTC)
        if not await self._jobs.finish(job):
            return  # another process (or a webhook) already finished it
        if job.status == "succeeded" and progress is not None:
            try:
                model = await self._trainer.serving_model(progress)
            except TrainerError as error:
                logger.warning("watcher: job %s succeeded but cannot be served", job.id)
                await self._reporter.show_job(job)
                await self._reporter.announce(
                    job, f"Job `{job.id}` finished, but I keep the current model: {error}"
                )
                return
            await self._models.activate(
                ModelSwap(model=model, job_id=job.id, system_prompt=job.system_prompt)
            )
            job.fine_tuned_model = model
            logger.info("watcher: job %s succeeded, now chatting with it", job.id)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, swap_announcement(job))
        else:
            logger.info("watcher: job %s ended as %s", job.id, job.status)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, failure_announcement(job))


def _apply(job: JobRecord, progress: JobProgress) -> None:
    job.status = progress.status
    job.fine_tuned_model = progress.output_model
    job.trained_tokens = progress.trained_tokens
    if progress.error:
        job.error = progress.error
    if progress.events:
        job.events = progress.events
    if progress.step is not None:
        job.step = progress.step
        job.total_steps = progress.total_steps
        job.train_loss = progress.train_loss


def swap_announcement(job: JobRecord) -> str:
    minutes = (job.finished_at - job.created_at).total_seconds() / 60 if job.finished_at else 0
    trained = f"{job.trained_tokens:,}" if job.trained_tokens is not None else "unknown"
    text = (
        f"Fine-tuning finished: I now answer with `{job.fine_tuned_model}` "
        f"(job `{job.id}`, {trained} trained tokens, {minutes:.0f} min). "
        "`/finetune rollback` switches back."
    )
    if job.prompt_tokens_saved > 0:
        text += f" Each request now sends {job.prompt_tokens_saved:,} fewer prompt tokens."
    return text


def failure_announcement(job: JobRecord) -> str:
    if job.status == "cancelled":
        return f"Fine-tuning job `{job.id}` was cancelled; I keep using the current model."
    reason = job.error or "no reason was given."
    return f"Fine-tuning job `{job.id}` {job.status}: {reason} I keep using the current model."
