"""Where a job's progress is shown: the reporter each front end implements (`JobReporter`), and
`JobReporters`, which reports each job on the front end it was started from."""

from __future__ import annotations

import logging
from typing import Protocol

from storage.jobs import JobRecord

logger = logging.getLogger(__name__)


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
