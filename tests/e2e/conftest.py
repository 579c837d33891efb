"""End-to-end fixtures: local Slack and OpenAI servers, real Redis, the real app over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import discord
import pytest

from tests.e2e.harness import RunningBot, make_settings
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.together_api import FakeTogether


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def openai_fake() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def together() -> AsyncIterator[FakeTogether]:
    fake = FakeTogether()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_bot(
    slack, openai_fake, redis_url
) -> AsyncIterator[Callable[..., Awaitable[RunningBot]]]:
    bots: list[RunningBot] = []

    async def start(**overrides) -> RunningBot:
        bot = await RunningBot.start(
            make_settings(slack, openai_fake, **{"redis_url": redis_url, **overrides})
        )
        bots.append(bot)
        return bot

    yield start
    for bot in bots:
        await bot.stop()


@pytest.fixture
async def bot(start_bot) -> RunningBot:
    return await start_bot()


@pytest.fixture
async def discord_fake() -> AsyncIterator[FakeDiscord]:
    # The bot points discord.py's class-wide URLs at the fake; put Discord's back afterwards.
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved


def discord_settings(fake: FakeDiscord) -> dict:
    return {
        "discord_token": fake.bot_token,
        "discord_api_url": fake.api_url,
        "discord_gateway_url": fake.gateway_url,
        "discord_guild_id": fake.guild_id,
    }
