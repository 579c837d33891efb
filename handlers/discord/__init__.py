"""The Discord front end: a discord.py client with its events, `/finetune` and job reports."""

from __future__ import annotations

import logging

import aiohttp
import discord
import yarl
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from bot.teams import Teams
from handlers.discord.client import DiscordBot

logger = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60
UNREACHABLE = (OSError, aiohttp.ClientError, discord.HTTPException)


def point_discord_at(api_url: str, gateway_url: str) -> None:
    """Where discord.py talks to (Discord itself unless a proxy or a local test server).

    discord.py reads both from class attributes, so this is set once, before connecting.
    """
    discord.http.Route.BASE = api_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def build_discord_bot(teams: Teams) -> DiscordBot:
    settings = teams.settings
    point_discord_at(settings.discord_api_url, settings.discord_gateway_url)
    return DiscordBot(teams)


async def run_discord(bot: DiscordBot, token: str) -> None:
    """Log in and stay connected. discord.py reconnects a dropped gateway by itself; a login
    that can't reach Discord is tried again with backoff, and a refusal that won't change
    (a wrong token, the message content intent not enabled) is said once, in one line."""

    def say(state: RetryCallState) -> None:
        error = type(state.outcome.exception()).__name__
        logger.warning("discord: can't reach Discord (%s), retrying", error)

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(UNREACHABLE),
        stop=lambda _: bot.is_closed(),
        wait=wait_exponential(multiplier=FIRST_RETRY_SECONDS, max=MAX_RETRY_SECONDS),
        before_sleep=say,
        reraise=True,
    )
    try:
        async for attempt in retrying:
            with attempt:
                try:
                    await bot.start(token)
                except UNREACHABLE:
                    # The failed login's HTTP session would otherwise leak into the next try
                    # (and log "Unclosed client session" when collected). Closing it closes
                    # its connector too, so the next login must be let to make a new one.
                    await bot.http.close()
                    bot.http.connector = discord.utils.MISSING
                    raise
    except discord.LoginFailure:
        logger.error("discord: Discord refused DISCORD_TOKEN; the Discord side stays off")
    except discord.PrivilegedIntentsRequired:
        logger.error(
            "discord: enable the Message Content intent for this bot in the Developer "
            "Portal (Bot > Privileged Gateway Intents); the Discord side stays off"
        )
    except UNREACHABLE:
        pass  # the bot was closed while Discord was unreachable: nothing more to try
