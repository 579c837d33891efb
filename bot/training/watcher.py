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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.comparison.compare import Comparer
from bot.errors import REDIS_DOWN
from bot.providers.registry import ModelRef, Providers
from bot.trainers.base import JobGone, JobProgress, MetricPoint, TrainerError
from bot.training.adoption import PENDING_PREFIX, adopt, spec_for
from bot.training.ledger import Ledger
from bot.training.loss_chart import charts_available, render_loss_chart
from bot.training.model_switch import ModelSwitcher
from bot.training.progress import trend
from bot.training.reporting import JobReporter
from bot.training.snapshots import JobSnapshots
from storage.jobs import TERMINAL, JobRecord, JobStore
from storage.models import ModelStore, ModelSwap

logger = logging.getLogger(__name__)

# A start still "validating" after this long lost its process between upload and record.
STALE_START_SECONDS = 600


class JobWatcher:
    def __init__(
        self,
        providers: Providers,
        jobs: JobStore,
        models: ModelStore,
        reporter: JobReporter,
        *,
        poll_seconds: float,
        bot_name: str,
        switcher: ModelSwitcher,
        snapshots: JobSnapshots,
        gate: str = "auto",
        comparer: Comparer | None = None,
        on_tick: Callable[[], Awaitable[None]] | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self._gate = gate
        self._ledger = ledger  # what each job came to, written when it ends
        self._switcher = switcher
        self._comparer = comparer
        self._providers = providers
        self._on_tick = on_tick
        self._bot_name = bot_name
        self._jobs = jobs
        self._snapshots = snapshots
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

        A stop flag as well as task cancellation: redis-py can swallow a cancellation that
        lands mid-command, which would leave the loop running (and holding the lease) for
        good; a cancel still pending on the task ends it too.
        """
        task = asyncio.current_task()
        try:
            while not self._stopped.is_set() and not (task and task.cancelling()):
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
            if self._comparer is not None:
                # Comparisons in flight are finished by whoever holds the lease.
                await self._comparer.resume(self._stopped.is_set)
            if self._on_tick is not None:
                # Date-driven work (shutdown warnings, migrations, the training policy), by the
                # lease holder only.
                await self._on_tick()
        except REDIS_DOWN:
            logger.warning("watcher: storage unavailable, will retry")
        except Exception:
            logger.exception("watcher: checking the active job failed")

    async def check(self, job_id: str) -> JobRecord | None:
        """Bring our record of a job up to date with the backend, and finish it if it ended."""
        job = await self._jobs.get(job_id)
        if job is None or job.is_finished:
            return job
        trainer = self._providers.trainer_of_job(job.provider)
        if trainer is None:
            logger.warning(
                "watcher: job %s runs on %s, which is no longer configured to train; not followed",
                job_id,
                job.provider,
            )
            return job
        try:
            progress = await trainer.job(job_id)
        except JobGone as error:
            job.status = "lost"
            job.error = f"{error} It will not be followed any further."
            await self._finish(job, None)
            return job
        except TrainerError:
            return job  # logged by the backend; the next poll tries again

        before = job.model_dump()
        _apply(job, progress)
        await self._keep_metrics(job, progress)
        if job.status in TERMINAL:
            await self._finish(job, progress)
        elif job.model_dump() != before:
            await self._jobs.save(job)
            await self._reporter.show_job(job)
        return job

    async def _keep_metrics(self, job: JobRecord, progress: JobProgress) -> None:
        """Add this poll's losses to the job's history, and redraw its trend from it."""
        points = list(progress.metrics)
        if progress.step is not None and not points:
            # A backend that reports only its latest step: the history is one point a poll.
            points = [MetricPoint(progress.step, progress.train_loss, progress.valid_loss)]
        if not await self._jobs.add_metrics(job.id, points):
            return  # no new step: the trend drawn before still holds
        history = await self._jobs.metrics(job.id)
        job.loss_trend = trend([p.train_loss for p in history if p.train_loss is not None])

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
        trainer = self._providers.trainer_of_job(job.provider)
        if trainer is None:
            return
        try:
            found = await trainer.find_job(spec_for(job, self._bot_name))
        except TrainerError:
            return
        if found is not None:
            if await adopt(self._jobs, job, found.id, found.status):
                logger.info("watcher: adopted job %s found for %s", found.id, holder)
                await self._reporter.show_job(job)
                await self._reporter.announce(
                    job,
                    f"{trainer.label} did create job `{job.id}` though its answer "
                    "was lost; I'm following it now.",
                )
            return
        job.status = "failed"
        job.error = f"{trainer.label} never created the job; nothing is running."
        job.finished_at = datetime.now(UTC)
        if await self._jobs.finish(job):
            await self._jobs.unlock(holder)
            await self._snapshots.discard(job)
            await self._reporter.show_job(job)
            await self._reporter.announce(job, f"{job.error} `/finetune start` tries again.")

    async def _finish(self, job: JobRecord, progress: JobProgress | None) -> None:
        job.finished_at = datetime.now(UTC)
        if not await self._jobs.finish(job):
            return  # another process (or a webhook) already finished it
        if self._ledger is not None:
            await self._ledger.closed(job)
        try:
            await self._announce_end(job, progress)
        finally:
            # The gate (if any) has copied its conversations out by now.
            await self._snapshots.discard(job)
            await self._show_chart(job)

    async def _show_chart(self, job: JobRecord) -> None:
        """The loss per step, as a picture beside the status message (a job with no metrics
        gets none; without the [charts] extra, the sparkline is all there is)."""
        points = await self._jobs.metrics(job.id)
        if not points:
            return
        if not charts_available():
            logger.info("watcher: no loss chart for %s (pip install -e '.[charts]')", job.id)
            return
        title = f"{job.base_model} · job {job.id}"
        # Drawing takes a few hundred milliseconds: off the event loop.
        png = await asyncio.to_thread(render_loss_chart, points, title)
        if png:
            await self._reporter.show_chart(job, png)

    async def _announce_end(self, job: JobRecord, progress: JobProgress | None) -> None:
        trainer = self._providers.trainer_of_job(job.provider)
        if job.status == "succeeded" and progress is not None and trainer is not None:
            try:
                model = await trainer.serving_model(progress)
            except TrainerError as error:
                logger.warning("watcher: job %s succeeded but cannot be served", job.id)
                await self._reporter.show_job(job)
                await self._reporter.announce(
                    job, f"Job `{job.id}` finished, but I keep the current model: {error}"
                )
                return
            job.fine_tuned_model = model
            await self._jobs.save(job)  # the served name (an adapter's), for `use` and compare
            served = ModelRef(model, self._providers.serving(job.provider))
            always_compared = job.migration or job.policy is not None
            if self._gate == "manual" and not always_compared:
                await self._reporter.show_job(job)
                await self._reporter.announce(job, manual_announcement(job))
                return
            if (self._gate == "compare" or always_compared) and self._comparer is not None:
                # A migration is always compared: the old model still serves until its date.
                # So is a job the policy started: nobody asked for it, the picks decide.
                await self._reporter.show_job(job)
                await self._comparer.start_gate(job, served, promote_by=job.promote_by)
                return
            await self._switcher.activate(
                ModelSwap(
                    model=model,
                    provider=served.provider,
                    job_id=job.id,
                    system_prompt=job.system_prompt,
                )
            )
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
        job.training_since = job.training_since or datetime.now(UTC)
        job.step = progress.step
        job.total_steps = progress.total_steps
        job.train_loss = progress.train_loss
        if progress.valid_loss is not None:  # reported at some steps only
            job.valid_loss = progress.valid_loss


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


def manual_announcement(job: JobRecord) -> str:
    return (
        f"Fine-tuning finished: `{job.fine_tuned_model}` is ready (job `{job.id}`). I keep "
        f"answering with the current model (SWAP_GATE=manual); `/finetune use "
        f"{job.fine_tuned_model}` switches to it, `/finetune compare <prompt>` tries it first."
    )


def failure_announcement(job: JobRecord) -> str:
    if job.status == "cancelled":
        return f"Fine-tuning job `{job.id}` was cancelled; I keep using the current model."
    reason = job.error or "no reason was given."
    return f"Fine-tuning job `{job.id}` {job.status}: {reason} I keep using the current model."
