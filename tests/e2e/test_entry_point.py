"""`python -m bot` as a person runs it: config errors, HTTP mode, embedded persistent Redis."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import redis.asyncio as redis

from storage.events import _RENEW
from storage.examples import _ADD_VOTE
from tests.bot_process import BotProcess, start_bot_process
from tests.conftest import free_port
from tests.e2e.harness import SIGNING_SECRET, RunningBot, SlackSender, make_settings
from tests.e2e.test_core_loop import replies

ROOT = Path(__file__).resolve().parents[2]


def bot_env(slack, openai_fake, tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "REDIS_"))}
    env.update(
        SLACK_BOT_TOKEN=slack.bot_token,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        OPENAI_API_KEY=openai_fake.api_key,
        OPENAI_BASE_URL=openai_fake.base_url,
        DATA_DIR=str(tmp_path / "data"),
        PORT=str(port),
        FINETUNE_ADMINS="UADMIN",
    )
    return env


async def start_process(env: dict[str, str], cwd: Path) -> BotProcess:
    """`python -m bot` (forked from tests/fork_server.py: the same process, started faster)."""
    return await start_bot_process({**env, "PYTHONPATH": str(ROOT)}, cwd=cwd)


async def wait_healthy(port: int, timeout: float = 30) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(timeout / 0.1)):
            try:
                async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not become healthy")


async def stop_process(process: BotProcess) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    return output.decode()


def test_a_missing_setting_stops_start_up_with_one_line(tmp_path):
    front_ends = ("SLACK_", "DISCORD_", "OPENAI_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(front_ends)}
    result = subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "Configuration error: SLACK_BOT_TOKEN or SLACK_CLIENT_ID (for Slack) or DISCORD_TOKEN "
        "(for Discord) is required; none is set"
    ]


async def test_the_embedded_redis_keeps_examples_across_a_restart(slack, openai_fake, tmp_path):
    port = free_port()
    env = bot_env(slack, openai_fake, tmp_path, port)
    process = await start_process(env, tmp_path)
    try:
        await wait_healthy(port)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            ts = await client.mention("remember this")
            [reply] = await replies(slack, 1)
            assert reply.thread_ts == ts
            await client.react(reply.ts)
            await asyncio.sleep(0.5)
    finally:
        log = await stop_process(process)
    assert "remember this" not in log  # message bodies never reach the log at INFO
    assert slack.bot_token not in log and openai_fake.api_key not in log

    process = await start_process(env, tmp_path)
    try:
        await wait_healthy(port)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            await client.command("status", slack.response_url("after-restart"))
        call = await slack.wait_for("response_url")
        assert call.params["blocks"][0]["text"]["text"].startswith("*Dataset:* 1 example,")
    finally:
        await stop_process(process)


async def test_discord_alone_runs_from_its_environment_variables(
    discord_fake, openai_fake, redis_url, tmp_path
):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "REDIS_"))}
    env.update(
        DISCORD_TOKEN=discord_fake.bot_token,
        DISCORD_API_URL=discord_fake.api_url,
        DISCORD_GATEWAY_URL=discord_fake.gateway_url,
        DISCORD_GUILD_ID=str(discord_fake.guild_id),
        OPENAI_API_KEY=openai_fake.api_key,
        OPENAI_BASE_URL=openai_fake.base_url,
        REDIS_URL=redis_url,
        PORT=str(port),
    )
    process = await start_process(env, tmp_path)
    try:
        await wait_healthy(port)  # Redis and the Discord gateway are both up
        asked = await discord_fake.send_message(
            f"<@{discord_fake.bot_user_id}> ahoy", author_id=4242, mention_bot=True
        )
        reply = await discord_fake.wait_for_bot_message(
            discord_fake.channel_id, lambda m: m.reply_to == int(asked["id"]), timeout=10
        )
        await discord_fake.wait_for(lambda: discord_fake.get_message(reply.id).content == "Reply 1")
        assert discord_fake.command_syncs[-1].guild_id == discord_fake.guild_id
    finally:
        log = await stop_process(process)
    assert discord_fake.bot_token not in log and "ahoy" not in log
    assert "Traceback" not in log and "Unclosed" not in log, log


async def test_the_first_vote_finds_its_script_already_in_redis(
    slack, openai_fake, tmp_path, redis_url
):
    # Ready means warmed up: the scripts a first vote or reply runs are in Redis's cache, so
    # the first one after a start is not the one that pays for loading them.
    client = redis.Redis.from_url(redis_url)
    await client.script_flush()  # earlier tests' bots used this server too
    env = {**bot_env(slack, openai_fake, tmp_path, free_port()), "REDIS_URL": redis_url}
    process = await start_process(env, tmp_path)
    try:
        await wait_healthy(int(env["PORT"]))
        shas = [hashlib.sha1(source.encode()).hexdigest() for source in (_ADD_VOTE, _RENEW)]
        assert await client.script_exists(*shas) == [True, True]
        await client.aclose()
    finally:
        log = await stop_process(process)
    assert process.returncode == 0, log
    assert "warm-up: ready in" in log


async def test_warm_up_says_what_a_provider_answered_rather_than_that_it_did_not_answer(
    slack, openai_fake, redis_url, caplog
):
    # A local server without this model (or without lookups by id) answers 404: that is an
    # answer, and the log says so; only a server that can't be reached "did not answer".
    openai_fake.missing_models.add("gpt-4.1-mini")
    caplog.set_level(logging.INFO, logger="bot.runtime.warm_up")
    settings = make_settings(slack, openai_fake, redis_url=redis_url, chat_model="gpt-4.1-mini")
    bot = await RunningBot.start(settings, watch=False, warm=True)
    try:
        logged = caplog.text
    finally:
        await bot.stop()
    assert "answered HTTP 404 to looking up gpt-4.1-mini" in logged
    assert "did not answer" not in logged
