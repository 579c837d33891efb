"""What a job was trained on, kept while it matters: the export snapshot in Redis (the swap
gate picks its held-out conversations from it) and the files uploaded for the job. Both are
copies of conversations, so forgetting reaches them (`withdraw`), and both go once the job has
ended and its gate has taken what it needs (`discard`)."""

from __future__ import annotations

import asyncio
import logging

from bot.conversation.copies import Removed, without_lines
from bot.providers.registry import Providers
from bot.trainers.base import TrainerError
from storage.jobs import JobRecord, JobStore

logger = logging.getLogger(__name__)


class JobSnapshots:
    def __init__(self, jobs: JobStore, providers: Providers) -> None:
        self._jobs = jobs
        self._providers = providers

    async def kept(self, job_id: str, name: str) -> bytes | None:
        """The job's `name` file ("training", "validation") without what was forgotten since."""
        content = await self._jobs.load_export(job_id, name)
        if content is None:
            return None
        dropped = await self._jobs.dropped_lines(job_id)
        return await asyncio.to_thread(without_lines, content, dropped)

    async def withdraw(self, removed: Removed) -> int:
        """Mark forgotten conversations in every snapshot still kept, and take them out of the
        files of a job not trained yet (where its provider still lets them change). How many
        snapshots were marked."""
        marked = 0
        for job_id in await self._jobs.with_exports():
            if not await self._jobs.drop_lines(job_id, removed.lines):
                continue
            marked += 1
            job = await self._jobs.get(job_id)
            if job is not None and not job.is_finished:
                await self.refresh_files(job)
        return marked

    async def refresh_files(self, job: JobRecord) -> None:
        """Take what was forgotten out of the job's uploaded files, where they can still
        change. A start calls this after its upload too: a forget-me between the snapshot and
        the upload is caught by one of the two."""
        trainer = self._providers.trainer_of_job(job.provider)
        if trainer is None or not await self._jobs.dropped_lines(job.id):
            return
        for name, file_id in (("training", job.training_file), ("validation", job.validation_file)):
            content = await self.kept(job.id, name) if file_id else None
            if file_id and content is not None:
                try:
                    if await trainer.replace_file(file_id, content):
                        logger.info("forgetting: a file of job %s lost forgotten lines", job.id)
                except TrainerError:
                    logger.warning("forgetting: could not update a file of job %s", job.id)

    async def discard(self, job: JobRecord) -> None:
        """The job has ended and its gate (if any) has its conversations: the snapshot and the
        uploaded files go. A provider that can't be reached keeps its file; that is logged."""
        await self._jobs.drop_export(job.id)
        trainer = self._providers.trainer_of_job(job.provider)
        if trainer is None:
            return
        for file_id in (job.training_file, job.validation_file):
            if file_id:
                try:
                    await trainer.delete_file(file_id)
                except TrainerError:
                    logger.warning("finetune: could not delete a file of job %s", job.id)
