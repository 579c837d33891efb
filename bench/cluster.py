"""A throwaway Redis Cluster of real `redis-server` processes (masters only), for `bench teams`.

The approach of `tests/e2e/test_cluster.py` (cluster-enabled nodes on free ports whose bus port,
port + 10000, is free too, joined with `redis-cli --cluster create`), without replicas: the
benchmark measures load and placement, not failover.
"""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.e2e.test_cluster import node_port as _node_port

NODE_TIMEOUT_MS = 1000


class Cluster:
    def __init__(self, root: Path, masters: int = 3) -> None:
        self.root = root
        self.masters = masters
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """What the bot's REDIS_URL names: one node; the client finds the others."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def start(self) -> None:
        for _ in range(self.masters):
            self.ports.append(self._node())
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )  # fmt: skip
        _until(lambda: all(self.state(port) == "ok" for port in self.ports), 20)

    def _node(self) -> int:
        """A node, up (a port found free can be taken before the node binds it: then again)."""
        for _ in range(5):
            port = _node_port()
            node = self.root / str(port)
            node.mkdir()
            process = subprocess.Popen(
                [
                    "redis-server",
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--save", "",
                    "--appendonly", "no",
                ],
                cwd=node,
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            _until(lambda p=port, pr=process: pr.poll() is not None or _ping(p), 10)
            if process.poll() is None:
                self.processes[port] = process
                return port
        raise RuntimeError("no free ports for a cluster node")

    def state(self, port: int) -> str:
        info = cli(port, "cluster", "info")
        return next(
            (line.split(":")[1] for line in info.splitlines() if "cluster_state" in line), ""
        )

    def slot_owners(self) -> list[int]:
        """The port of the master serving each of the 16,384 slots."""
        owners = [0] * 16384
        for line in cli(self.ports[0], "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2]:
                continue
            port = int(fields[1].split(":")[1].split("@")[0])
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit():
                    for slot in range(int(low), int(high or low) + 1):
                        owners[slot] = port
        return owners

    def flush(self) -> None:
        """Every master empty, its counters reset: a fresh cluster without a new one."""
        for port in self.ports:
            cli(port, "flushall")
            cli(port, "config", "resetstat")

    def info(self, port: int, section: str) -> dict[str, str]:
        fields = {}
        for line in cli(port, "info", section).splitlines():
            name, sep, value = line.partition(":")
            if sep:
                fields[name] = value.strip()
        return fields

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)


@contextlib.contextmanager
def cluster(masters: int = 3) -> Iterator[Cluster]:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as workdir:
        nodes = Cluster(Path(workdir), masters)
        try:
            nodes.start()
            yield nodes
        finally:
            nodes.stop()


def cli(port: int, *args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-p", str(port), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()


def _ping(port: int) -> bool:
    try:
        return cli(port, "ping") == "PONG"
    except (subprocess.SubprocessError, OSError):
        return False


def _until(check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("the Redis cluster did not come up")
        time.sleep(0.1)
