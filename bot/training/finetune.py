"""Fine-tuning from the chat: validate and price the dataset, upload it, start and cancel jobs.

Each step reports through a `JobReporter` that the platform adapter provides, so one status
message in the channel follows the job from upload to the swap.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from bot.clock import Clock
from bot.config import Settings
from bot.dataset.export import Dataset
from bot.dataset.preferences import analyse_pairs
from bot.dataset.tempfiles import TempFile
from bot.dataset.tokens import count_text
from bot.dataset.validation import DatasetReport, analyse_dataset
from bot.providers.registry import ProviderError, Providers
from bot.runtime.offloop import in_thread
from bot.trainers.base import (
    JobSpec,
    Trainer,
    TrainerError,
    TrainingClosed,
    Unreachable,
)
from bot.training.files import TrainingSpool
from bot.training.model_table import ModelTable, lifecycle_warning
from bot.training.snapshots import JobSnapshots
from storage.export_files import save_export_file
from storage.jobs import JobRecord, JobStore

logger = logging.getLogger(__name__)

PENDING_LOCK_SECONDS = 3600
PENDING_PREFIX = "pending-"  # the lock names a start by this until the backend names the job

NOTHING_STARTED = "Nothing was started or spent; your examples are safe."
TRAINING_ELSEWHERE = (
    "`/finetune export` gives you the JSONL, and another provider trains the same dataset: "
    "add it to PROVIDERS_FILE (or set TRAIN_BACKEND), then `/finetune start provider=<name>`, "
    'or `/finetune migrate` to move the model in use; see the README\'s "After 2027-01-14".'
)


class JobReporter(Protocol):
    async def show_job(self, job: JobRecord) -> str | None:
        """Post the job's status message, or update it; return the message id."""

    async def announce(self, job: JobRecord, text: str) -> None:
        """Say something in the channel where the job was started."""

    async def post(self, channel: str, text: str) -> None:
        """Say something in a channel, outside any job (a notice in the job channel)."""

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        """Post the finished job's loss chart beside its status message."""

    async def close(self) -> None:
        """Show what is still waiting to be shown: the bot is stopping."""


class CannotReport(Exception):
    """The front end can't post where the job would report; `str()` says what to do."""


class JobReporters:
    """Reports each job on the front end it was started from (`JobRecord.platform`).

    Every front end running in this process adds its reporter; a job whose front end is not
    running here (another process serves it) keeps its record and is reported nowhere.
    """

    def __init__(self) -> None:
        self._by_platform: dict[str, JobReporter] = {}

    def add(self, platform: str, reporter: JobReporter) -> None:
        self._by_platform[platform] = reporter

    def _for(self, job: JobRecord) -> JobReporter | None:
        reporter = self._by_platform.get(job.platform)
        if reporter is None:
            logger.warning("finetune: no %s front end here to report job %s", job.platform, job.id)
        return reporter

    async def show_job(self, job: JobRecord) -> str | None:
        reporter = self._for(job)
        return await reporter.show_job(job) if reporter else job.status_message_ts

    async def announce(self, job: JobRecord, text: str) -> None:
        reporter = self._for(job)
        if reporter:
            await reporter.announce(job, text)

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        reporter = self._for(job)
        if reporter:
            await reporter.show_chart(job, png)

    async def post(self, platform: str, channel: str, text: str) -> bool:
        """Say `text` in `channel` of `platform`; False when that front end is not here."""
        reporter = self._by_platform.get(platform)
        if reporter is None:
            return False
        await reporter.post(channel, text)
        return True

    async def close(self) -> None:
        for reporter in self._by_platform.values():
            await reporter.close()


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
    ) -> None:
        self._reporter = reporter
        self._settings = settings
        self._providers = providers
        self._dataset = dataset
        self._jobs = jobs
        self._clock = clock
        self.snapshots = JobSnapshots(jobs, providers)  # what each job was trained on

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
    ) -> StartOutcome:
        """Start a job (the caller has checked the person is an admin); say what happened.
        A migration's job is always compared with the model in use, and swaps by `promote_by`."""
        try:
            trainer = self._providers.trainer(options.provider)
        except ProviderError as error:
            return StartOutcome(f"{error} {NOTHING_STARTED}")
        ref = f"{PENDING_PREFIX}{uuid.uuid4().hex[:12]}"
        holder = await self._jobs.try_lock(ref, PENDING_LOCK_SECONDS)
        if holder is not None:
            return StartOutcome(await self._already_running(holder))
        marks = {"migration": migration, "promote_by": promote_by}
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
        return StartOutcome(f"{answer}\n⚠️ {warning}" if warning else answer, job_id)

    async def _already_running(self, holder: str) -> str:
        job = await self._jobs.get(holder) if holder else None
        if job is None:
            return "Another fine-tuning job is being started right now; try `/finetune status`."
        return f"Job `{job.id}` is already {job.status} (started by <@{job.started_by}>)."

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
            return await self._launch(job, trainer, training, validation)
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

    async def _launch(
        self,
        job: JobRecord,
        trainer: Trainer,
        training: TempFile,
        validation: TempFile | None,
    ) -> str:
        """Show the job, upload its files and create it; say what happened."""
        try:
            job.status_message_ts = await self._reporter.show_job(job)
        except CannotReport as problem:
            # Nothing is uploaded or spent for a job whose progress nobody could see.
            await self._jobs.unlock(job.id)
            return f"{problem} {NOTHING_STARTED}"
        await self._jobs.save(job)

        try:
            spec = await self._upload(job, trainer, training, validation)
            try:
                created = await trainer.create_job(spec)
            except Unreachable as error:
                # The job may exist though the answer was lost: look for it before giving up.
                return await self._recover(job, trainer, spec, str(error))
        except TrainingClosed as error:
            reason = f"{error} {NOTHING_STARTED} {TRAINING_ELSEWHERE}"
            return await self._give_up(job, reason)
        except TrainerError as error:
            return await self._give_up(job, f"{error} Nothing is running.")
        await adopt(self._jobs, job, created.id, created.status)
        await self._reporter.show_job(job)
        logger.info("finetune: started job %s on %s at %s", job.id, job.base_model, trainer.name)
        return f"Started fine-tuning job `{job.id}` with {trainer.label}."

    async def _recover(self, job: JobRecord, trainer: Trainer, spec: JobSpec, reason: str) -> str:
        try:
            found = await trainer.find_job(spec)
        except TrainerError:
            # Unknown: keep the lock so nobody starts a second paid job; the watcher looks
            # again on every poll and adopts the job, or frees the lock once it is sure.
            logger.warning("finetune: could not check whether %s was created", job.id)
            job.status = "unconfirmed"
            await self._jobs.save(job)
            await self._reporter.show_job(job)
            return (
                f"{reason} I couldn't check whether the job was created, so I'll keep looking "
                "and post the outcome here; no second job can start meanwhile."
            )
        if found is None:
            return await self._give_up(job, f"{reason} Nothing is running.")
        logger.info("finetune: found job %s created for %s", found.id, job.id)
        await adopt(self._jobs, job, found.id, found.status)
        await self._reporter.show_job(job)
        return f"Started fine-tuning job `{job.id}` with {trainer.label}."

    async def _upload(
        self, job: JobRecord, trainer: Trainer, training: TempFile, validation: TempFile | None
    ) -> JobSpec:
        job.export_sha256 = await save_export_file(self._jobs, job.id, "training", training.path)
        job.training_file = await trainer.upload(training.path, "training.jsonl")
        if validation is not None:
            await save_export_file(self._jobs, job.id, "validation", validation.path)
            job.validation_file = await trainer.upload(validation.path, "validation.jsonl")
        job.status = "validating"
        await self._jobs.save(job)
        await self.snapshots.refresh_files(job)
        return spec_for(job, self._settings.redis_prefix)

    async def _give_up(self, job: JobRecord, reason: str) -> str:
        job.status = "failed"
        job.error = reason
        await self._jobs.save(job)
        await self._jobs.unlock(job.id)
        await self.snapshots.discard(job)
        await self._reporter.show_job(job)
        return reason


async def adopt(jobs: JobStore, job: JobRecord, job_id: str, status: str) -> bool:
    """Record the backend's job under its own id and hand it the lock, exactly once.

    Both the start itself and the watcher's recovery may find the job; the record is written
    first (the same for both), then only the one that moves the lock goes on.
    """
    ref = job.id
    await jobs.save(job.model_copy(update={"id": job_id, "status": status}))
    if not await jobs.adopt(ref, job_id):
        return False
    await jobs.rename_export(ref, job_id)
    await jobs.delete(ref)
    job.id, job.status = job_id, status
    return True


def spec_for(job: JobRecord, bot: str) -> JobSpec:
    """What creating `job` asks of the backend; the same spec finds it again later."""
    return JobSpec(
        ref=job.id,
        base_model=job.base_model,
        epochs=job.epochs,
        suffix=job.suffix,
        training_file=job.training_file or "",
        validation_file=job.validation_file,
        dataset_sha256=job.export_sha256 or "",
        bot=bot,
        method=job.method,
        beta=job.beta,
    )


def analyse_lines(
    lines: Iterable[dict[str, Any]],
    model: str,
    table: ModelTable,
    epochs: int | None,
    method: str,
    keep: Any = None,  # a list, or anything with `append` and `extend` (a TrainingSpool)
) -> DatasetReport:
    if method == "dpo":
        # The pairs' check reads its lines twice; pairs are people's corrections, not 100k.
        return analyse_pairs(list(lines), model, table, epochs, keep)
    return analyse_dataset(lines, model, table, epochs, keep)
