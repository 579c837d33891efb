"""Reports fine-tuning jobs on Discord: one status message edited in place, and announcements
in the channel where the job was started."""

from __future__ import annotations

import asyncio
import io
import logging

import discord

from handlers.discord.client import DiscordBot
from handlers.discord.embeds import job_embed
from handlers.discord.replies import NO_MENTIONS
from storage.jobs import JobRecord

logger = logging.getLogger(__name__)

# The watcher may report before the gateway has logged in (a job resumed at start-up).
LOGIN_WAIT_SECONDS = 30


class DiscordJobReporter:
    def __init__(self, client: DiscordBot) -> None:
        self._client = client

    async def _channel(self, job: JobRecord | str) -> discord.PartialMessageable:
        await asyncio.wait_for(self._client.logged_in.wait(), LOGIN_WAIT_SECONDS)
        channel = job if isinstance(job, str) else job.channel
        return self._client.get_partial_messageable(int(channel))

    async def show_job(self, job: JobRecord) -> str | None:
        try:
            channel = await self._channel(job)
            if job.status_message_ts:
                message = channel.get_partial_message(int(job.status_message_ts))
                await message.edit(embed=job_embed(job))
                return job.status_message_ts
            posted = await channel.send(embed=job_embed(job))
            return str(posted.id)
        except (discord.HTTPException, TimeoutError) as error:
            logger.warning("discord: job status not shown (%s)", type(error).__name__)
            return job.status_message_ts

    async def announce(self, job: JobRecord, text: str) -> None:
        await self.post(job.channel, text)

    async def post(self, channel_id: str, text: str) -> None:
        try:
            channel = await self._channel(channel_id)
            await channel.send(text, allowed_mentions=NO_MENTIONS)
        except (discord.HTTPException, TimeoutError) as error:
            logger.warning("discord: announcement not posted (%s)", type(error).__name__)

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        try:
            channel = await self._channel(job)
            status = job.status_message_ts
            await channel.send(
                f"Training and validation loss, job `{job.id}`",
                file=discord.File(io.BytesIO(png), filename=f"loss-{job.id}.png"),
                reference=channel.get_partial_message(int(status)) if status else None,
                allowed_mentions=NO_MENTIONS,
            )
        except (discord.HTTPException, TimeoutError) as error:
            logger.warning("discord: loss chart not posted (%s)", type(error).__name__)

    async def close(self) -> None:
        pass  # every edit is sent when it happens
