"""Reports fine-tuning jobs in Slack: one status message kept up to date, and announcements."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.wording import job_title
from handlers.slack.blocks import build_job_blocks
from storage.jobs import JobRecord

logger = logging.getLogger(__name__)


class SlackJobReporter:
    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def show_job(self, job: JobRecord) -> str | None:
        blocks, text = build_job_blocks(job), job_title(job)
        try:
            if job.status_message_ts:
                await self._client.chat_update(
                    channel=job.channel,
                    ts=job.status_message_ts,
                    text=job_title(job),
                    blocks=blocks,
                )
                return job.status_message_ts
            posted = await self._client.chat_postMessage(
                channel=job.channel, text=text, blocks=blocks
            )
            return posted["ts"]
        except SlackApiError as error:
            logger.warning("slack: job status not shown (%s)", error.response.get("error"))
            return job.status_message_ts

    async def announce(self, job: JobRecord, text: str) -> None:
        try:
            await self._client.chat_postMessage(channel=job.channel, text=text)
        except SlackApiError as error:
            logger.warning("slack: announcement not posted (%s)", error.response.get("error"))
