"""Getting a checked job onto its backend: show it where it reports, upload its files, create
it, and, when the answer to the creation was lost, look for the job before giving up."""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.dataset.tempfiles import TempFile
from bot.trainers.base import JobSpec, Trainer, TrainerError, TrainingClosed, Unreachable
from bot.training.adoption import adopt, spec_for
from bot.training.reporting import CannotReport, JobReporter
from bot.training.snapshots import JobSnapshots
from storage.export_files import save_export_file
from storage.jobs import JobRecord, JobStore

logger = logging.getLogger(__name__)

NOTHING_STARTED = "Nothing was started or spent; your examples are safe."
TRAINING_ELSEWHERE = (
    "`/finetune export` gives you the JSONL, and another provider trains the same dataset: "
    "add it to PROVIDERS_FILE (or set TRAIN_BACKEND), then `/finetune start provider=<name>`, "
    'or `/finetune migrate` to move the model in use; see the README\'s "After 2027-01-14".'
)


class JobLauncher:
    """Takes a job from its record (the one-job lock held under its pending name) to a job
    running on the backend, or to a failure that frees the lock."""

    def __init__(
        self, settings: Settings, jobs: JobStore, reporter: JobReporter, snapshots: JobSnapshots
    ) -> None:
        self._settings = settings
        self._jobs = jobs
        self._reporter = reporter
        self._snapshots = snapshots

    async def launch(
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
        await self._snapshots.refresh_files(job)
        return spec_for(job, self._settings.redis_prefix)

    async def _give_up(self, job: JobRecord, reason: str) -> str:
        job.status = "failed"
        job.error = reason
        await self._jobs.save(job)
        await self._jobs.unlock(job.id)
        await self._snapshots.discard(job)
        await self._reporter.show_job(job)
        return reason
