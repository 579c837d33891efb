"""Reports fine-tuning jobs in Slack: one status message kept up to date, announcements, and
the loss chart in the status message's thread when the job ends."""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.commands.wording import job_title
from bot.training.reporting import CannotReport
from handlers.slack.blocks import build_job_blocks
from handlers.slack.escaping import escape_sentence, escaped
from storage.jobs import JobRecord

logger = logging.getLogger(__name__)

# chat.update allows about one update a second per message; a job's status changes far less
# often, and a few seconds between redraws keeps bursts (webhook + poll) inside the limit.
UPDATE_INTERVAL_SECONDS = 3.0
# Slack's answers when the bot may not post in a channel: the person has to act.
NOT_ALLOWED_HERE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})


class SlackJobReporter:
    def __init__(self, client: AsyncWebClient, *, interval: float = UPDATE_INTERVAL_SECONDS):
        self._client = client
        self._interval = interval
        self._last_update: dict[str, float] = {}  # status message ts -> when it was redrawn
        self._latest: dict[str, JobRecord] = {}  # the newest state waiting for its redraw
        self._redraws: dict[str, asyncio.Task] = {}

    async def show_job(self, job: JobRecord) -> str | None:
        if not job.status_message_ts:
            return await self._post(job)
        ts = job.status_message_ts
        wait = self._last_update.get(ts, float("-inf")) + self._interval - time.monotonic()
        if ts in self._redraws:
            # A redraw is due (its time may have come a moment ago, its task not yet run):
            # it draws the newest state; drawing now as well would be two redraws at once.
            self._latest[ts] = job.model_copy(deep=True)
        elif wait <= 0:
            await self._update(job)
        else:
            # Too soon after the last redraw: the newest state is drawn when the time comes,
            # so the final one (succeeded, failed) is never lost.
            self._latest[ts] = job.model_copy(deep=True)
            self._redraws[ts] = asyncio.create_task(self._redraw_later(ts, wait))
        return ts

    async def _post(self, job: JobRecord) -> str | None:
        try:
            posted = await self._client.chat_postMessage(
                channel=job.channel, text=job_title(escaped(job)), blocks=build_job_blocks(job)
            )
        except SlackApiError as error:
            reason = error.response.get("error")
            if reason in NOT_ALLOWED_HERE:
                raise CannotReport(
                    f"I can't post in <#{job.channel}> ({reason}), so nobody could follow the "
                    "job there: invite me with `/invite @finetune-bot`, or start it from a "
                    "channel I'm in."
                ) from None
            logger.warning("slack: job status not shown (%s)", reason)
            return None
        self._last_update[posted["ts"]] = time.monotonic()
        return posted["ts"]

    async def _update(self, job: JobRecord) -> None:
        ts = job.status_message_ts or ""
        self._last_update[ts] = time.monotonic()
        try:
            await self._client.chat_update(
                channel=job.channel,
                ts=ts,
                text=job_title(escaped(job)),
                blocks=build_job_blocks(job),
            )
        except SlackApiError as error:
            logger.warning("slack: job status not shown (%s)", error.response.get("error"))

    async def _redraw_later(self, ts: str, wait: float) -> None:
        try:
            while True:
                await asyncio.sleep(wait)
                await self._update(self._latest.pop(ts))
                if ts not in self._latest:  # nothing newer came while that one was drawn
                    return
                wait = self._interval
        finally:
            self._redraws.pop(ts, None)

    async def close(self) -> None:
        """Draw what is waiting now: the bot is stopping."""
        for ts, task in list(self._redraws.items()):
            task.cancel()
            if job := self._latest.pop(ts, None):
                await self._update(job)

    async def announce(self, job: JobRecord, text: str) -> None:
        # Provider errors and model names come in here; the one who started the job may be
        # mentioned, nobody else.
        await self._post_text(job.channel, escape_sentence(text, people=[job.started_by]))

    async def post(self, channel: str, text: str) -> None:
        await self._post_text(channel, escape_sentence(text))

    async def _post_text(self, channel: str, text: str) -> None:
        try:
            await self._client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as error:
            logger.warning("slack: announcement not posted (%s)", error.response.get("error"))

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        try:
            await self._client.files_upload_v2(
                channel=job.channel,
                thread_ts=job.status_message_ts,
                content=png,
                filename=f"loss-{job.id}.png",
                title=f"Training and validation loss, job {job.id}",
            )
        except SlackApiError as error:
            logger.warning("slack: loss chart not posted (%s)", error.response.get("error"))
