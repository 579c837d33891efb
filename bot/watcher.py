"""Follows the active fine-tuning job and swaps the model when it succeeds.

Several bot processes may share one Redis; a lease lets exactly one of them poll, and another
takes over when the holder dies. Webhooks call `check` directly from any process; the job's
terminal transition happens once (a Lua script), so the swap and announcement happen once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import openai
from openai import AsyncOpenAI

from bot.errors import REDIS_DOWN
from bot.finetune import JobReporter
from storage.jobs import TERMINAL, JobRecord, JobStore
from storage.models import ModelStore, ModelSwap

logger = logging.getLogger(__name__)

EVENTS_SHOWN = 3


class JobWatcher:
    def __init__(
        self,
        client: AsyncOpenAI,
        jobs: JobStore,
        models: ModelStore,
        reporter: JobReporter,
        *,
        poll_seconds: float,
    ) -> None:
        self._client = client
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
        except REDIS_DOWN:
            logger.warning("watcher: storage unavailable, will retry")
        except Exception:
            logger.exception("watcher: checking the active job failed")

    async def check(self, job_id: str) -> JobRecord | None:
        """Bring our record of a job up to date with OpenAI, and finish it if it ended."""
        job = await self._jobs.get(job_id)
        if job is None or job.is_finished:
            return job
        try:
            remote = await self._client.fine_tuning.jobs.retrieve(job_id)
        except openai.NotFoundError:
            job.status = "lost"
            job.error = "OpenAI no longer knows this job; it will not be followed any further."
            await self._finish(job)
            return job
        except openai.APIError as error:
            logger.warning("watcher: could not read job %s (%s)", job_id, type(error).__name__)
            return job

        before = job.model_dump(exclude={"events"}), list(job.events)
        await self._apply(job, remote)
        if job.status in TERMINAL:
            await self._finish(job)
        elif (job.model_dump(exclude={"events"}), job.events) != before:
            await self._jobs.save(job)
            await self._reporter.show_job(job)
        return job

    async def _apply(self, job: JobRecord, remote: Any) -> None:
        job.status = remote.status
        job.fine_tuned_model = remote.fine_tuned_model
        job.trained_tokens = remote.trained_tokens
        if remote.error and getattr(remote.error, "message", None):
            job.error = remote.error.message
        try:
            page = await self._client.fine_tuning.jobs.list_events(job.id, limit=20)
        except openai.APIError:
            return
        events = list(page.data)
        job.events = [event.message for event in events[:EVENTS_SHOWN]]
        for event in events:  # newest first: the first metrics event is the latest step
            data = event.data if isinstance(event.data, dict) else None
            if event.type == "metrics" and data and "step" in data:
                job.step = data.get("step")
                job.total_steps = data.get("total_steps")
                job.train_loss = data.get("train_loss")
                break

    async def _finish(self, job: JobRecord) -> None:
        job.finished_at = datetime.now(UTC)
        if not await self._jobs.finish(job):
            return  # another process (or a webhook) already finished it
        if job.status == "succeeded" and job.fine_tuned_model:
            await self._models.activate(
                ModelSwap(
                    model=job.fine_tuned_model, job_id=job.id, system_prompt=job.system_prompt
                )
            )
            logger.info("watcher: job %s succeeded, now chatting with it", job.id)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, swap_announcement(job))
        else:
            logger.info("watcher: job %s ended as %s", job.id, job.status)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, failure_announcement(job))


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
    reason = job.error or "OpenAI did not say why"
    return f"Fine-tuning job `{job.id}` {job.status}: {reason} I keep using the current model."
