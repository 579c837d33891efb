"""Redis Cluster for real: three masters with a replica each, on free ports. The bot's keys
share one hash tag, so they live on one slot; killing that slot's master shows what people
see until its replica takes over, and after."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.conversation.curation import VOTE_NOT_SAVED
from tests.conftest import free_port
from tests.e2e.test_core_loop import replies, settle
from tests.e2e.test_finetune import command, eventually, seed_examples

pytestmark = pytest.mark.skipif(not shutil.which("redis-cli"), reason="needs redis-cli")
NODE_TIMEOUT_MS = 1000


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen] = {}

    def _start_node(self) -> int:
        port = node_port()
        node = self.root / str(port)
        node.mkdir()
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                "--port", str(port),
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                "--save", "",
                "--appendonly", "no",
            ],
            cwd=node,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        return port

    async def _node(self) -> int:
        """A node, up. A port found free can be taken before the node binds it or its bus port
        (port + 10000): by another test process's outgoing connection, in a parallel run. Such
        a node exits at once, and one is started again on other ports."""
        for _ in range(5):
            port = self._start_node()
            process = self.processes[port]

            async def up_or_gone(port=port, process=process) -> bool:
                return process.poll() is not None or await _ping(port)

            await _until(up_or_gone)
            if process.poll() is None:
                return port
            del self.processes[port]
        raise AssertionError("no free ports for a cluster node")

    async def create(self) -> None:
        for _ in range(6):
            self.ports.append(await self._node())
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        create = await asyncio.create_subprocess_exec(
            "redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "1", "--cluster-yes",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert await asyncio.wait_for(create.wait(), 30) == 0
        await _until(lambda: all(self.state(port) == "ok" for port in self.ports), timeout=20)
        # A replica whose first sync has not finished does not fail over: wait for every one.
        await _until(lambda: all(self.replica_synced(port) for port in self.replicas()), timeout=20)

    def replicas(self) -> list[int]:
        nodes = _cli(self.ports[0], "cluster", "nodes").splitlines()
        return [
            int(fields[1].split(":")[1].split("@")[0])
            for fields in (line.split() for line in nodes)
            if "slave" in fields[2]
        ]

    def replica_synced(self, port: int) -> bool:
        return "master_link_status:up" in _cli(port, "info", "replication")

    def state(self, port: int) -> str:
        info = _cli(port, "cluster", "info")
        return next(
            (line.split(":")[1] for line in info.splitlines() if "cluster_state" in line), ""
        )

    def master_of(self, key: str) -> int:
        slot = int(_cli(self.ports[0], "cluster", "keyslot", key))
        for line in _cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" in fields[2] and "fail" not in fields[2]:
                for span in fields[8:]:
                    low, _, high = span.partition("-")
                    if low.isdigit() and int(low) <= slot <= int(high or low):
                        return int(fields[1].split(":")[1].split("@")[0])
        raise AssertionError(f"no master serves slot {slot}")

    def kill(self, port: int) -> None:
        os.kill(self.processes[port].pid, signal.SIGKILL)
        self.processes[port].wait()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait()


@pytest.fixture
async def cluster(tmp_path) -> AsyncIterator[Cluster]:
    nodes = Cluster(tmp_path)
    try:
        await nodes.create()
        yield nodes
    finally:
        nodes.stop()


async def test_the_bot_runs_on_a_cluster_and_rides_out_a_failover(
    start_bot, slack, openai_fake, cluster
):
    bot = await start_bot(
        redis_url=f"redis://127.0.0.1:{cluster.ports[0]}/0",
        redis_cluster=True,
        job_poll_seconds=0.1,
    )
    # The core loop and a fine-tuning job, on the cluster.
    await seed_examples(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000)
    await eventually(lambda: bot.services.models.active())

    asked = await bot.mention("one more question")
    reply = (await replies(slack, 11))[-1]
    await settle()

    # The master holding the bot's slot dies.
    cluster.kill(cluster.master_of(f"bot:{{{bot.settings.redis_prefix}}}"))
    await bot.react(reply.ts)
    await eventually(
        lambda: [
            c for c in slack.calls_to("chat.postEphemeral") if c.params["text"] == VOTE_NOT_SAVED
        ],
        timeout=10,
    )
    # Chat keeps answering meanwhile (without what storage would have added).
    await bot.mention("are you still there?", thread_ts=asked)
    await replies(slack, 12, timeout=15)

    # Its replica takes over; curation works again, and nothing saved before is lost.
    await eventually(lambda: bot.services.redis_ok(), timeout=20)
    await eventually(lambda: _saved_after_failover(bot, slack, reply.ts), timeout=20)
    assert (await bot.services.examples.stats()).examples == 11


async def _saved_after_failover(bot, slack, ts: str) -> bool:
    before = len(slack.calls_to("chat.postEphemeral"))
    await bot.react(ts, user=f"U{before}")
    await settle()
    return len(slack.calls_to("chat.postEphemeral")) == before


async def _ping(port: int) -> bool:
    client = Redis(port=port)
    try:
        return bool(await client.ping())
    except OSError:
        return False
    except Exception:
        return False
    finally:
        await client.aclose()


async def _until(check, timeout: float = 10) -> None:
    try:
        await eventually(check, timeout)
    except AssertionError:
        raise AssertionError("the cluster did not come up") from None


def node_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 < 65536 and _is_free(port + 10000):
            return port


def _is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()


async def test_teams_spread_over_the_masters_and_one_is_removed_from_all_of_them(
    start_bot, slack, openai_fake, cluster
):
    from tests.e2e.test_slack_install import installed_from_a_link
    from tests.e2e.test_teams import curate, in_workspace, install_as

    # Two workspaces whose teams' hash tags land on different masters.
    tag = "bot:{{finetune.slack-{}}}"
    first = "T1"
    second = next(
        f"T{n}"
        for n in range(2, 200)
        if cluster.master_of(tag.format(f"T{n}")) != cluster.master_of(tag.format(first))
    )
    bot = await start_bot(
        **installed_from_a_link(slack),
        redis_url=f"redis://127.0.0.1:{cluster.ports[0]}/0",
        redis_cluster=True,
    )
    for workspace in (first, second):
        status, _ = await install_as(bot, slack, workspace, f"U{workspace}")
        assert status == 200
        sender = in_workspace(bot, workspace)
        await curate(sender, slack, [f"asked in {workspace}"], f"U{workspace}")

    # Each team's keys are on its own master, every one of them in its team's one slot.
    for workspace in (first, second):
        keys = bot.services.redis.scan_iter(match=f"bot:{{finetune.slack-{workspace}}}:*")
        found = [key async for key in keys]
        assert any(":example:" in key for key in found)
        slots = {int(_cli(cluster.ports[0], "cluster", "keyslot", key)) for key in found}
        assert len(slots) == 1
    assert len({cluster.master_of(tag.format(w)) for w in (first, second)}) == 2

    removed = await bot.teams.remove(f"slack-{second}")
    assert removed > 0
    left = [key async for key in bot.services.redis.scan_iter(match="bot:*")]
    assert not any(f"slack-{second}" in key for key in left)
    assert any(f"slack-{first}}}:example:" in key for key in left)
