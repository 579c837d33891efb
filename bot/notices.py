"""Notices that belong to no job (a model that stopped answering, a shutdown coming), said once
in the job channel: JOB_CHANNEL, else the channel of the latest job."""

from __future__ import annotations

import logging

from bot.config import Settings
from bot.training.reporting import JobReporters
from storage.jobs import JobStore
from storage.notices import NoticeStore

logger = logging.getLogger(__name__)

DAY_SECONDS = 86400


class Notices:
    def __init__(
        self, settings: Settings, reporters: JobReporters, jobs: JobStore, store: NoticeStore
    ) -> None:
        self._settings = settings
        self._reporters = reporters
        self._jobs = jobs
        self._store = store

    async def channel(self) -> tuple[str, str] | None:
        """(platform, channel) of the job channel; None when no job was ever started."""
        if self._settings.job_channel:
            platform, _, channel = self._settings.job_channel.partition(":")
            return platform, channel
        active = await self._jobs.active_job_id()
        latest = await self._jobs.get(active) if active else None
        if latest is None:
            finished = await self._jobs.finished(limit=1)
            latest = finished[0] if finished else None
        return (latest.platform, latest.channel) if latest else None

    async def say_once(self, notice: str, text: str, *, for_seconds: int = DAY_SECONDS) -> bool:
        """Say `text` unless `notice` was said in the last `for_seconds`, by any process."""
        where = await self.channel()
        if where is None:
            logger.warning("notice: %s (no job channel: set JOB_CHANNEL to see these)", text)
            return False
        if not await self._store.first(notice, for_seconds):
            return False
        logger.info("notice: %s", notice)
        if not await self._reporters.post(*where, text):
            logger.warning("notice: no %s front end here to say %s", where[0], notice)
        return True
