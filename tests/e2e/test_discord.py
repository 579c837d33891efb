"""Discord end to end: the app as the composition root builds it, its real discord.py client
talking to a local fake Discord (REST + gateway), real Redis and the OpenAI stand-in."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.conversation.chat import EMPTY_MESSAGE_HINT, MODEL_ERROR_APOLOGY
from storage.schemas import MessageKey
from tests.e2e.conftest import discord_settings
from tests.e2e.harness import RunningBot
from tests.fakes.discord_api import FakeDiscord

ALICE, BOB, ADMIN = 4242, 4343, 4444
MANAGE_SERVER = 1 << 5


@pytest.fixture
async def on_discord(start_bot, discord_fake: FakeDiscord) -> RunningBot:
    bot = await start_bot(**discord_settings(discord_fake), discord_finetune_admins=str(ADMIN))
    await discord_fake.wait_connected()
    return bot


async def mention(fake: FakeDiscord, text: str, *, author: int = ALICE, **where) -> dict:
    return await fake.send_message(
        f"<@{fake.bot_user_id}> {text}", author_id=author, mention_bot=True, **where
    )


async def answer_to(fake: FakeDiscord, message: dict, timeout: float = 5.0):
    """The bot's (first) message replying to `message`."""
    return await fake.wait_for_bot_message(
        int(message["channel_id"]), lambda m: m.reply_to == int(message["id"]), timeout=timeout
    )


async def turn_of(bot: RunningBot, reply, timeout: float = 10.0):
    """The turn recorded for a bot reply, once the answer is complete."""
    key = MessageKey("discord", str(reply.channel_id), str(reply.id))
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if turn := await bot.services.turns.get(key):
            return turn
        await asyncio.sleep(0.02)
    return None


async def test_a_mention_is_answered_as_a_reply_that_streams_in(
    on_discord, discord_fake, openai_fake
):
    openai_fake.reply = "Arr, the deploy pipeline be green, and the crew be merry today."
    openai_fake.stream_piece_delay = 0.3

    asked = await mention(discord_fake, "how is the deploy?")
    reply = await answer_to(discord_fake, asked)
    turn = await turn_of(on_discord, reply)

    assert turn is not None, "the reply was recorded as a turn"
    assert discord_fake.get_message(reply.id).content == openai_fake.reply
    edits = discord_fake.edits_of(reply.id)
    assert len(edits) >= 2, "the answer appeared progressively"
    assert edits[0][1] != openai_fake.reply
    gaps = [later[0] - earlier[0] for earlier, later in zip(edits, edits[1:], strict=False)]
    assert min(gaps) >= 0.9, "edits come at most about once a second"
    assert any(call.channel_id == discord_fake.channel_id for call in discord_fake.typing_calls)
    assert turn.messages[-1] == {"role": "user", "content": "how is the deploy?"}
    assert turn.reply == openai_fake.reply and turn.platform == "discord"
    assert turn.team == str(discord_fake.guild_id)
    assert openai_fake.chat_requests[-1]["stream"] is True
