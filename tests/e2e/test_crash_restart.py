"""The bot with its embedded Redis (no REDIS_URL) after a crash: SIGKILL to both, nobody reaping
them, then `python -m bot` again. And the files under DATA_DIR are the bot user's alone."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest

from tests.conftest import free_port
from tests.e2e.harness import SlackSender
from tests.e2e.test_core_loop import replies
from tests.e2e.test_entry_point import ROOT, bot_env, start_process, wait_healthy
from tests.e2e.test_faults_embedded import embedded_redis_pid

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="prctl is Linux's")

# Runs a command under a child subreaper that never waits: the command and every process it
# leaves behind (the daemonized redis-server) stay zombies when killed, as under a container
# init that does not reap. Prints the command's pid; ends when its stdin closes.
UNREAPED = """
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl failed")
log = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
dup = [(os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)]
print(os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ, file_actions=dup), flush=True)
sys.stdin.read()
"""


def examples_file(path: Path, n: int) -> Path:
    lines = [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"q{i}"},
                    {"role": "assistant", "content": f"a{i}"},
                ]
            }
        )
        for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def wait_until(condition, timeout: float = 10, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def is_zombie(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def dataset_line(client: SlackSender, slack, name: str) -> str:
    await client.command("status", slack.response_url(name))
    call = await slack.wait_for("response_url", lambda c: c.params["_name"] == name)
    return call.params["blocks"][0]["text"]["text"]


async def test_the_bot_starts_again_after_it_and_its_redis_were_killed_and_left_unreaped(
    slack, openai_fake, tmp_path
):
    port = free_port()
    env = bot_env(slack, openai_fake, tmp_path, port)
    data_dir = Path(env["DATA_DIR"])
    imported = cli(env, tmp_path, "dataset", "import", str(examples_file(tmp_path / "in.jsonl", 2)))
    assert imported.returncode == 0, imported.stderr

    log = tmp_path / "crashed.log"
    unreaped = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        UNREAPED,
        str(log),
        sys.executable,
        "-m",
        "bot",
        env={**env, "PYTHONPATH": str(ROOT)},
        cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    process = None
    try:
        bot_pid = int(await asyncio.wait_for(unreaped.stdout.readline(), timeout=10))
        await wait_healthy(port)
        redis_pid = embedded_redis_pid(data_dir)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            await client.mention("remember this")
            [reply] = await replies(slack, 1)
            await client.react(reply.ts)
            for poll in range(100):  # until the vote is stored (acknowledged, fsynced)
                if (await dataset_line(client, slack, f"before-{poll}")).startswith(
                    "*Dataset:* 3 examples,"
                ):
                    break
            else:
                raise AssertionError("the vote was not stored")

        os.kill(bot_pid, signal.SIGKILL)
        os.kill(redis_pid, signal.SIGKILL)
        await wait_until(lambda: is_zombie(bot_pid) and is_zombie(redis_pid), what="zombies")

        process = await start_process(env, tmp_path)
        await wait_healthy(port)
        async with aiohttp.ClientSession() as session:
            client = SlackSender(f"http://127.0.0.1:{port}", session)
            # Everything stored before the crash is there: the import and the vote.
            assert (await dataset_line(client, slack, "after")).startswith("*Dataset:* 3 examples,")
        assert embedded_redis_pid(data_dir) != redis_pid
    finally:
        output = await stop(process) if process else ""
        unreaped.stdin.close()
        await asyncio.wait_for(unreaped.wait(), timeout=10)
    assert "the embedded redis that was running is gone; starting a new one" in output
    assert "Traceback" not in output


async def stop(process: asyncio.subprocess.Process) -> str:
    """Its output, once stopped; a start that failed has ended already."""
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    return output.decode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_and_redis_files_are_readable_by_the_bot_user_only(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "REDIS_"))}
    env["DATA_DIR"] = str(tmp_path / "data")
    file = examples_file(tmp_path / "in.jsonl", 1)
    done = cli(env, tmp_path, "dataset", "import", str(file))
    assert done.returncode == 0, done.stderr
    data_dir = tmp_path / "data"
    files = sorted(path for path in data_dir.iterdir())
    assert {path.name for path in files} >= {"appendonly.aof", "redis.rdb"}
    assert mode(data_dir) == 0o700
    assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}

    # What an earlier version left readable to everyone is made private at the next start.
    data_dir.chmod(0o755)
    for path in files:
        path.chmod(0o644)
    done = cli(env, tmp_path, "dataset", "stats")
    assert done.returncode == 0, done.stderr
    assert mode(data_dir) == 0o700
    assert {path.name: mode(path) for path in data_dir.iterdir()} == {
        path.name: 0o600 for path in data_dir.iterdir()
    }
