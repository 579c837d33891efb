"""Slack's redeliveries: answered once, also when the process that had the event died."""

from __future__ import annotations

import asyncio

import aiohttp

from tests.conftest import free_port
from tests.e2e.harness import CHANNEL, SlackSender
from tests.e2e.test_core_loop import bot_replies, replies, settle
from tests.e2e.test_entry_point import bot_env, start_process, stop_process, wait_healthy
from tests.e2e.test_finetune import eventually

MENTION = {
    "type": "app_mention",
    "user": "UALICE",
    "text": "<@UBOT> are you there?",
    "ts": "1700000100.000100",
    "channel": CHANNEL,
    "event_ts": "1700000100.000100",
}


async def test_a_redelivery_while_a_slow_answer_is_written_is_not_answered_again(
    start_bot, slack, openai_fake
):
    bot = await start_bot(event_working_seconds=0.3)
    openai_fake.reply_delay = 1.5  # longer than the mark lasts unrenewed
    await bot.send_event(MENTION, event_id="EvSLOW")
    await eventually(lambda: openai_fake.chat_requests)
    await asyncio.sleep(1.0)
    await bot.send_event(MENTION, event_id="EvSLOW", retry_num=1)
    await replies(slack, 1)
    await bot.send_event(MENTION, event_id="EvSLOW", retry_num=2)
    await settle()
    assert len(openai_fake.chat_requests) == 1 and len(bot_replies(slack)) == 1


async def test_a_mention_whose_process_died_mid_answer_is_answered_on_redelivery(
    slack, openai_fake, redis_url, tmp_path
):
    env = {**bot_env(slack, openai_fake, tmp_path, 0), "REDIS_URL": redis_url}
    env["EVENT_WORKING_SECONDS"] = "1"
    openai_fake.reply_delay = 30  # the model is slow: the process dies while it answers

    first_port = free_port()
    first = await start_process({**env, "PORT": str(first_port)}, tmp_path)
    try:
        await wait_healthy(first_port)
        async with aiohttp.ClientSession() as session:
            await SlackSender(f"http://127.0.0.1:{first_port}", session).send_event(
                MENTION, event_id="EvCRASH"
            )
        await eventually(lambda: openai_fake.chat_requests)
    finally:
        first.kill()  # no shutdown: the answer in progress dies with it
        await first.wait()
    assert bot_replies(slack) == []

    openai_fake.reply_delay = 0
    second_port = free_port()
    second = await start_process({**env, "PORT": str(second_port)}, tmp_path)
    try:
        await wait_healthy(second_port)
        await asyncio.sleep(1.2)  # the dead process's mark runs out
        async with aiohttp.ClientSession() as session:
            sender = SlackSender(f"http://127.0.0.1:{second_port}", session)
            await sender.send_event(MENTION, event_id="EvCRASH", retry_num=1)
            [reply] = await replies(slack, 1, timeout=15)
            assert reply.thread_ts == MENTION["ts"]
            await sender.send_event(MENTION, event_id="EvCRASH", retry_num=2)
            await asyncio.sleep(0.3)  # what the bot, another process, does meanwhile
        assert len(bot_replies(slack)) == 1, "answered once, not zero times, not twice"
    finally:
        await stop_process(second)
