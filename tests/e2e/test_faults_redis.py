"""Redis crashing, stopping or hanging under a running bot: what people notice, and recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.conversation.curation import VOTE_NOT_SAVED
from storage.keys import Keys
from storage.schemas import reply_ref
from tests.conftest import RedisServer
from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_core_loop import bot_replies, export_lines, replies, status_text

SLACK_ACK_LIMIT = 3.0
STORAGE_DOWN = "can't reach the bot's storage"


@pytest.fixture
async def own_redis(tmp_path) -> AsyncIterator[RedisServer]:
    """A redis-server of this test alone, with AOF fsynced on every write (README's advice)."""
    workdir = tmp_path / "redis"
    workdir.mkdir()
    server = RedisServer(workdir)
    await asyncio.to_thread(server.start, appendonly=True, appendfsync="always")
    yield server
    server.resume()
    await asyncio.to_thread(server.stop)


async def restart(server: RedisServer) -> None:
    await asyncio.to_thread(server.start, appendonly=True, appendfsync="always")


async def vote_is_stored(bot, reply_ts: str, user: str) -> bool:
    keys = Keys(bot.settings.redis_prefix)
    redis = bot.services.redis
    example_id = await redis.hget(keys.approved_replies, reply_ref(CHANNEL, reply_ts))
    if not example_id:
        return False
    members = await redis.smembers(keys.votes(example_id))
    return any(member.split("|", 1)[0] == user for member in members)


def told_not_saved(slack, user: str) -> bool:
    return any(
        call.params.get("user") == user and call.params.get("text") == VOTE_NOT_SAVED
        for call in slack.calls_to("chat.postEphemeral")
    )


async def ask(bot, slack, count: int) -> list[str]:
    """`count` distinct questions; returns the ts of each recorded bot reply."""
    before = len(bot_replies(slack))
    for i in range(count):
        await bot.mention(f"question {before + i}")
    posted = (await replies(slack, before + count))[before:]
    stamps = [reply.ts for reply in posted]
    for ts in stamps:  # the turn is written just after the reply is posted
        for _ in range(100):
            if await bot.services.turns.get(slack_message(CHANNEL, ts)):
                break
            await asyncio.sleep(0.02)
    return stamps


async def test_every_acknowledged_vote_survives_a_redis_crash_with_aof(start_bot, slack, own_redis):
    bot = await start_bot(redis_url=own_redis.url)
    stamps = await ask(bot, slack, 16)

    # Votes before the crash: each is acknowledged only once it is saved.
    for i in range(6):
        assert (await bot.react(stamps[i], user=f"U{i}")).status == 200

    async def keep_voting() -> list[int]:
        statuses = []
        for i in range(6, 16):
            statuses.append((await bot.react(stamps[i], user=f"U{i}")).status)
            await asyncio.sleep(0.03)
        return statuses

    voting = asyncio.create_task(keep_voting())
    await asyncio.sleep(0.05)
    await asyncio.to_thread(own_redis.kill)  # SIGKILL: no shutdown, only the AOF survives
    await asyncio.sleep(0.15)
    await restart(own_redis)
    statuses = await voting
    assert statuses == [200] * 10  # Slack always gets its ack: no redelivery storm
    await asyncio.sleep(0.3)  # "not saved" notices are posted just after the ack

    for i in range(6):
        assert await vote_is_stored(bot, stamps[i], f"U{i}"), f"vote {i} lost in the crash"
        assert not told_not_saved(slack, f"U{i}")
    for i in range(6, 16):
        stored = await vote_is_stored(bot, stamps[i], f"U{i}")
        assert stored or told_not_saved(slack, f"U{i}"), f"vote {i} dropped silently"
    stats = await bot.services.examples.stats()
    assert stats.examples == len(await bot.services.examples.all_ids())

    # The same process keeps working against the restarted Redis.
    [fresh] = await ask(bot, slack, 1)
    assert (await bot.react(fresh, user="UNEW")).status == 200
    assert await vote_is_stored(bot, fresh, "UNEW")


async def test_while_redis_is_down_chat_answers_commands_say_so_and_all_recovers(
    start_bot, slack, openai_fake, own_redis
):
    bot = await start_bot(redis_url=own_redis.url)
    [first] = await ask(bot, slack, 1)
    await asyncio.to_thread(own_redis.stop)

    started = time.monotonic()
    thread = await bot.mention("still there?")
    assert time.monotonic() - started < SLACK_ACK_LIMIT
    answered = (await replies(slack, 2))[1]
    assert answered.thread_ts == thread
    assert answered.text == "Reply 2"

    assert (await bot.react(first, user="UBOB")).status == 200
    notice = await slack.wait_for("chat.postEphemeral")
    assert notice.params["user"] == "UBOB" and notice.params["text"] == VOTE_NOT_SAVED

    for name in ("status", "export"):
        response = await bot.command(name, slack.response_url(f"down-{name}"), user="UADMIN")
        assert response.status == 200
        call = await slack.wait_for(
            "response_url", lambda c, n=name: c.params["_name"] == f"down-{n}"
        )
        assert STORAGE_DOWN in call.params["text"], name
    assert slack.uploads == []
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 503

    await restart(own_redis)  # a clean stop wrote the AOF: the first turn is still there
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 200
    assert (await bot.react(first, user="UBOB")).status == 200
    assert await vote_is_stored(bot, first, "UBOB")
    assert (await status_text(bot, slack, "up-status")).startswith("*Dataset:* 1 example,")
    [line] = await export_lines(bot, slack, "up-export")
    assert line["messages"][-1]["content"] == "Reply 1"
    [later] = await ask(bot, slack, 1)
    assert (await bot.services.turns.get(slack_message(CHANNEL, later))) is not None


async def test_a_hung_redis_holds_neither_the_ack_nor_the_reply(start_bot, slack, own_redis):
    bot = await start_bot(redis_url=own_redis.url)
    [first] = await ask(bot, slack, 1)
    own_redis.pause()  # SIGSTOP: connections open, nothing ever answers

    async def timed(coro) -> float:
        started = time.monotonic()
        response = await coro
        assert getattr(response, "status", 200) == 200
        return time.monotonic() - started

    mention_ack, vote_ack, command_ack = await asyncio.gather(
        timed(bot.mention("anyone home?")),
        timed(bot.react(first, user="UBOB")),
        timed(bot.command("status", slack.response_url("hung"))),
    )
    assert max(mention_ack, vote_ack, command_ack) < SLACK_ACK_LIMIT
    answered = (await replies(slack, 2, timeout=SLACK_ACK_LIMIT))[1]
    assert answered.text == "Reply 2"
    notice = await slack.wait_for("chat.postEphemeral", timeout=SLACK_ACK_LIMIT)
    assert notice.params["text"] == VOTE_NOT_SAVED
    status = await slack.wait_for("response_url", timeout=2 * SLACK_ACK_LIMIT)
    assert STORAGE_DOWN in status.params["text"]

    own_redis.resume()
    assert (await bot.react(first, user="UBOB")).status == 200
    assert await vote_is_stored(bot, first, "UBOB")
    assert (await status_text(bot, slack, "resumed")).startswith("*Dataset:* 1 example,")
