"""Shared fixtures: a throwaway redis-server per test session, emptied before each test."""

from __future__ import annotations

import gc
import importlib.util
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


def pytest_collection_finish(session: pytest.Session) -> None:
    # Everything imported to collect the tests (torch and transformers among them) lives to
    # the end: out of the collector's way, each full collection a test triggers, or makes on
    # purpose, scans only what tests made. The bot does the same after its warm-up.
    gc.freeze()


LOCAL_EXTRA = 'needs the [local] extra: pip install ".[local]"'


def needs(*modules: str, reason: str = LOCAL_EXTRA) -> pytest.MarkDecorator:
    """Skip unless `modules` are installed, found without importing them: importing trl or
    vLLM to decide costs each test process seconds before the first test runs."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    return pytest.mark.skipif(bool(missing), reason=reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A real redis-server on a free loopback port, which tests may stop and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self._started = False  # once started, a restart keeps its port (tests hold its URL)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(
        self, *, appendonly: bool = False, appendfsync: str = "everysec", retries: int = 4
    ) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            pytest.fail("redis-server is not installed (apt-get install redis-server)")
        self.process = subprocess.Popen(
            [
                executable,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes" if appendonly else "no",
                "--appendfsync",
                appendfsync,
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if self.process.poll() is not None and not self._started and retries:
                    # The free port was taken before the server bound it (another test
                    # process's outgoing connection, in a parallel run): another port.
                    client.close()
                    self.port = free_port()
                    return self.start(
                        appendonly=appendonly, appendfsync=appendfsync, retries=retries - 1
                    )
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        client.close()
        self._started = True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown save; only what is on disk survives."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        """A hung server: connections are accepted by the kernel but nothing is answered."""
        if self.process is not None:
            self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGCONT)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    if redis_server.process is None:
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The bot's temporary files go to a directory of this test's own, to look into (files
    mark it used for all their tests: `pytestmark = pytest.mark.usefixtures("temp_dir")`)."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory
