"""Fine-tuning from the chat: validate and price the dataset, start a job under the one-job
lock, and cancel it. `FineTuner` is what every front end calls.

Each step reports through a `JobReporter` that the platform adapter provides (reporting), so
one status message in the channel follows the job from upload to the swap; getting a checked
job onto its backend is the `JobLauncher`'s (launch).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.clock import Clock
from bot.config import Settings
from bot.dataset.export import Dataset
from bot.dataset.tokens import count_text
from bot.dataset.validation import DatasetReport
from bot.providers.registry import ProviderError, Providers
from bot.runtime.offloop import in_thread
from bot.trainers.base import Trainer, TrainerError
from bot.training.adoption import PENDING_PREFIX
from bot.training.analysis import analyse_lines
from bot.training.files import TrainingSpool
from bot.training.launch import NOTHING_STARTED, TRAINING_ELSEWHERE, JobLauncher
from bot.training.ledger import Ledger
from bot.training.model_table import lifecycle_warning
from bot.training.reporting import JobReporter
from bot.training.snapshots import JobSnapshots
from storage.jobs import JobRecord, JobStore

logger = logging.getLogger(__name__)

PENDING_LOCK_SECONDS = 3600


@dataclass(frozen=True)
class StartOptions:
    model: str
    provider: str | None = None  # None: the default training provider
    epochs: int | None = None
    suffix: str | None = None
    holdout: float | None = None  # None: automatic (10% from 100 examples on)
    method: str = "supervised"  # or "dpo": the preference pairs
    beta: float | None = None  # DPO only; None: the provider's default


@dataclass(frozen=True)
class StartOutcome:
    text: str  # what the person is told
    job_id: str | None = None  # the job started (or being confirmed); None: nothing started


@dataclass(frozen=True)
class Requester:
    """Who started a job, and where it reports."""

    user: str
    platform: str
    channel: str


class FineTuner:
    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        dataset: Dataset,
        jobs: JobStore,
        reporter: JobReporter,
        clock: Clock,
        ledger: Ledger | None = None,
    ) -> None:
        self._settings = settings
        self._providers = providers
        self._dataset = dataset
        self._jobs = jobs
        self._clock = clock
        self._ledger = ledger  # every job started is written to it
        self.snapshots = JobSnapshots(jobs, providers)  # what each job was trained on
        self._launcher = JobLauncher(settings, jobs, reporter, self.snapshots)

    # Reading the dataset -----------------------------------------------------------------

    async def training_batches(self, method: str = "supervised") -> AsyncIterator[list[dict]]:
        """The training file's lines (the examples, or the preference pairs for DPO), a batch
        at a time, with TRAINING_SYSTEM_PROMPT in place of the chat prompt when configured."""
        prompt = self._settings.training_system_prompt
        async for batch in self._dataset.batches("dpo" if method == "dpo" else "sft"):
            for line in batch if prompt else ():
                messages = line["input"]["messages"] if method == "dpo" else line["messages"]
                for message in messages:
                    if message["role"] == "system":
                        message["content"] = prompt
            yield batch

    async def validate(
        self,
        model: str,
        epochs: int | None = None,
        method: str = "supervised",
        provider: str | None = None,
    ) -> DatasetReport:
        table = self._providers.training_table(provider, model)
        # Counting every example's tokens takes seconds at 100k examples: off the event loop,
        # which keeps answering meanwhile (the App Home asks for this on every open).
        return await in_thread(
            self.training_batches(method),
            lambda lines: analyse_lines(lines, model, table, epochs, method),
        )

    def prompt_tokens_saved(self, model: str) -> int:
        """Tokens each request saves when the tuned model runs on the shorter training prompt."""
        prompt = self._settings.training_system_prompt
        if not prompt:
            return 0
        return count_text(self._settings.system_prompt, model) - count_text(prompt, model)

    def lifecycle_warning(self, model: str, provider: str | None = None) -> str | None:
        """The provider's or the base model's coming end, with the configured way out."""
        try:
            info = self._providers.training_table(provider).lookup(model)
        except ProviderError:
            return None  # nothing trains here: there is no training to warn about
        warning = lifecycle_warning(info, self._clock.today()) if info else None
        if warning is None:
            return None
        target = self._settings.migration
        if target and target[0] != self._providers.training_provider(provider):
            return (
                f"{warning} `/finetune migrate` retrains this dataset on `{target[1]}` at "
                f"{self._providers.label(target[0])} (MIGRATION_TARGET)."
            )
        alternative = self._settings.train_alternative
        if alternative and alternative in self._providers.names:
            return f"{warning} `/finetune start provider={alternative}` trains it there."
        if alternative:
            return f"{warning} Set TRAIN_BACKEND={alternative} to train this dataset there."
        return f"{warning} {TRAINING_ELSEWHERE}"

    async def cancel(self) -> str:
        job_id = await self._jobs.active_job_id()
        job = await self._jobs.get(job_id) if job_id else None
        if not job_id:
            return "No fine-tuning job is running."
        trainer = self._providers.trainer_of_job(job.provider if job else "")
        if trainer is None:
            return (
                f"Job `{job_id}` runs on provider `{job.provider if job else '?'}`, which is no "
                "longer configured to train, so I can't cancel it from here."
            )
        try:
            await trainer.cancel(job_id)
        except TrainerError as error:
            return f"Job `{job_id}` was not cancelled: {error}"
        logger.info("finetune: cancel requested for %s", job_id)
        return f"Asked {trainer.label} to cancel job `{job_id}`."

    # Starting ----------------------------------------------------------------------------

    async def start(
        self,
        options: StartOptions,
        user: str,
        platform: str,
        channel: str,
        *,
        migration: bool = False,
        promote_by: date | None = None,
        policy: str | None = None,
    ) -> StartOutcome:
        """Start a job (the caller has checked the person is an admin); say what happened.
        A migration's job is always compared with the model in use, and swaps by `promote_by`;
        so is one the training policy starts (`policy`: why it did)."""
        try:
            trainer = self._providers.trainer(options.provider)
        except ProviderError as error:
            return StartOutcome(f"{error} {NOTHING_STARTED}")
        ref = f"{PENDING_PREFIX}{uuid.uuid4().hex[:12]}"
        holder = await self._jobs.try_lock(ref, PENDING_LOCK_SECONDS)
        if holder is not None:
            return StartOutcome(await self._already_running(holder))
        marks = {"migration": migration, "promote_by": promote_by, "policy": policy}
        try:
            answer = await self._start_locked(
                ref, options, trainer, Requester(user, platform, channel), marks
            )
        except BaseException:
            await self._jobs.unlock(ref)
            raise
        warning = self.lifecycle_warning(options.model, options.provider)
        # The lock we took is held now only by what this start created (the job, or the
        # start still being confirmed); a refusal or a failure released it.
        job_id = await self._jobs.lock_holder()
        job = await self._jobs.get(job_id) if job_id else None
        if job is not None and self._ledger is not None:
            await self._ledger.opened(job)
        return StartOutcome(f"{answer}\n⚠️ {warning}" if warning else answer, job_id)

    async def _already_running(self, holder: str) -> str:
        job = await self._jobs.get(holder) if holder else None
        if job is None:
            return "Another fine-tuning job is being started right now; try `/finetune status`."
        who = f"the policy ({job.policy})" if job.policy else f"<@{job.started_by}>"
        return f"Job `{job.id}` is already {job.status} (started by {who})."

    async def _start_locked(
        self,
        ref: str,
        options: StartOptions,
        trainer: Trainer,
        requester: Requester,
        marks: dict[str, Any],
    ) -> str:
        if options.method == "dpo" and not trainer.supports_dpo:
            await self._jobs.unlock(ref)
            return (
                f"{trainer.label} trains on examples only, not on preference pairs; "
                f"{NOTHING_STARTED} Start without `method=dpo`, or train the pairs elsewhere "
                "(`/finetune export dpo`)."
            )
        table = self._providers.training_table(trainer.name, options.model)
        # The lines that can train go to disk as the check passes them (serialised in its
        # thread), and the files to upload are made from there: nothing grows with the dataset.
        spool = TrainingSpool(options.holdout)
        try:
            report = await in_thread(
                self.training_batches(options.method),
                lambda lines: analyse_lines(
                    lines, options.model, table, options.epochs, options.method, spool
                ),
            )
            if not report.can_train:
                await self._jobs.unlock(ref)
                return report.refusal or "This dataset can't be trained."
            training, validation = await asyncio.to_thread(spool.split)
        finally:
            spool.discard()  # what the split did not hand over
        try:
            job = self._job_record(ref, options, trainer, requester, report, training.lines)
            job = job.model_copy(update=marks)
            return await self._launcher.launch(job, trainer, training, validation)
        finally:
            training.discard()
            if validation is not None:
                validation.discard()

    def _job_record(
        self,
        ref: str,
        options: StartOptions,
        trainer: Trainer,
        requester: Requester,
        report: DatasetReport,
        examples: int,
    ) -> JobRecord:
        return JobRecord(
            id=ref,
            provider=trainer.name,
            status="uploading",
            base_model=options.model,
            suffix=options.suffix,
            method=options.method,
            beta=options.beta,
            epochs=report.n_epochs,
            started_by=requester.user,
            platform=requester.platform,
            channel=requester.channel,
            examples=examples,
            tokens=report.tokens_total,
            billed_tokens=report.billed_tokens,
            estimated_cost_usd=report.estimated_cost_usd,
            system_prompt=self._settings.training_system_prompt,
            prompt_tokens_saved=self.prompt_tokens_saved(options.model),
            events=report.warnings[:3],
        )
