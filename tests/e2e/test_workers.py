"""`WEB_CONCURRENCY=2 python -m bot`: two bot processes behind one port, as an operator runs it.
Connections spread over both, every mention is answered once, a process that dies comes back,
and one SIGTERM stops them all and the embedded Redis they share."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import psutil

from tests.conftest import free_port
from tests.e2e.harness import SlackSender
from tests.e2e.test_core_loop import replies
from tests.e2e.test_entry_point import bot_env, start_process
from tests.e2e.test_start_stop import EmbeddedRedis, assert_clean, assert_stopped, stop

# /healthz names the process that answered (its pid) only to whoever holds this token.
HEALTHZ_TOKEN = "workers-healthz-token"


async def serving_pids(port: int, want: int, timeout: float = 60) -> set[int]:
    """The pids that answer /healthz ready, asked on fresh connections until `want` have."""
    pids: set[int] = set()
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection every request
    headers = {"Authorization": f"Bearer {HEALTHZ_TOKEN}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        async with asyncio.timeout(timeout):
            while len(pids) < want:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                        body = await response.json()
                        if response.status == 200:
                            pids.add(body["pid"])
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
    return pids


async def test_two_processes_share_one_port_and_stop_together(slack, openai_fake, tmp_path):
    port = free_port()
    env = {
        **bot_env(slack, openai_fake, tmp_path, port),
        "WEB_CONCURRENCY": "2",
        "HEALTHZ_TOKEN": HEALTHZ_TOKEN,
    }
    process = await start_process(env, tmp_path)
    pids = await serving_pids(port, 2)
    assert len(pids) == 2 and process.pid not in pids

    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        sender = SlackSender(f"http://127.0.0.1:{port}", session)
        asked = [await sender.mention(f"question {n}") for n in range(20)]
    answered = await replies(slack, 20, timeout=20)
    assert sorted(reply.thread_ts for reply in answered) == sorted(asked)

    # A process that dies is replaced; the port keeps answering meanwhile.
    os.kill(pids.pop(), signal.SIGKILL)
    survivors = await serving_pids(port, 2)
    assert len(survivors) == 2 and pids < survivors

    redis = EmbeddedRedis(Path(env["DATA_DIR"]))
    log = await stop(process, signal.SIGTERM)
    assert process.returncode == 0, log
    for pid in survivors:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert_stopped(redis)
    assert_clean(log.replace("exited (-9); restarting it", ""))
    assert len(await replies(slack, 20, timeout=0.1)) == 20  # nothing answered twice
