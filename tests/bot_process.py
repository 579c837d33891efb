"""`python -m bot …` as a process of its own, forked from tests/fork_server.py (one per test
process, started on first use) instead of started from nothing: the same process, minus a
second or two of imports. `run_bot` runs a command to its end; `start_bot_process` starts one
(the server) to signal, read and wait on, as asyncio's subprocesses are."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_server: tuple[subprocess.Popen, str] | None = None
_starting = threading.Lock()  # commands may start from several threads at once


def _socket_path() -> str:
    global _server
    with _starting:
        if _server is None or _server[0].poll() is not None:
            _server = _start_server()
        return _server[1]


def _start_server() -> tuple[subprocess.Popen, str]:
    path = os.path.join(tempfile.mkdtemp(prefix="fork-server-"), "socket")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fork_server", path],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    if process.stdout.readline().strip() != "ready":
        raise RuntimeError("the fork server did not start")
    atexit.register(process.kill)
    return process, path


def _request(env: dict[str, str], argv: list[str], cwd: Path, fds: list[int]) -> socket.socket:
    """Ask for `python -m bot *argv` with `fds` as its stdin, stdout and stderr (closed here)."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(_socket_path())
    request = json.dumps({"argv": argv, "env": env, "cwd": str(cwd)}).encode() + b"\n"
    socket.send_fds(connection, [request], fds)
    for fd in set(fds):
        os.close(fd)
    return connection


async def run_bot(
    env: dict[str, str], *args: str, cwd: Path, stdin: str = "", timeout: float = 60
) -> tuple[int, str, str]:
    """Run `python -m bot *args`; return (exit code, stdout, stderr)."""
    return await asyncio.to_thread(_run, env, list(args), cwd, stdin.encode(), timeout)


def _run(env, argv, cwd, stdin: bytes, timeout: float) -> tuple[int, str, str]:
    read_in, write_in = os.pipe()
    read_out, write_out = os.pipe()
    read_err, write_err = os.pipe()
    with _request(env, argv, cwd, [read_in, write_out, write_err]) as connection:
        writer = threading.Thread(target=_write_all, args=(write_in, stdin), daemon=True)
        writer.start()
        out, err = _read_until_closed(read_out, read_err, timeout)
        connection.settimeout(timeout)
        answers = connection.makefile("rb")
        json.loads(answers.readline())  # {"pid": …}
        code = json.loads(answers.readline())["code"]
    return code, out.decode(), err.decode()


def _write_all(fd: int, data: bytes) -> None:
    try:
        with open(fd, "wb", closefd=True) as pipe:
            pipe.write(data)
    except BrokenPipeError:
        pass  # the command ended without reading all of its input


def _read_until_closed(out_fd: int, err_fd: int, timeout: float) -> tuple[bytes, bytes]:
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    with selectors.DefaultSelector() as selector:
        for fd in chunks:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            ready = selector.select(timeout)
            if not ready:
                raise TimeoutError(f"python -m bot did not end within {timeout} s")
            for key, _ in ready:
                data = os.read(key.fd, 1 << 16)
                if data:
                    chunks[key.fd].append(data)
                else:
                    selector.unregister(key.fd)
                    os.close(key.fd)
    return b"".join(chunks[out_fd]), b"".join(chunks[err_fd])


class BotProcess:
    """What the tests use of `asyncio.subprocess.Process`, for a forked `python -m bot`: its
    output (stdout and stderr, merged), signals, and its exit status when it ends."""

    def __init__(
        self,
        pid: int,
        stdout: asyncio.StreamReader,
        status: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    ) -> None:
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._status, self._connection = status

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    async def wait(self) -> int:
        if self.returncode is None:
            self.returncode = json.loads(await self._status.readline())["code"]
            self._connection.close()
        return self.returncode

    async def communicate(self) -> tuple[bytes, None]:
        output = await self.stdout.read()
        await self.wait()
        return output, None


async def start_bot_process(env: dict[str, str], *args: str, cwd: Path) -> BotProcess:
    """Start `python -m bot *args`, stdin empty, stderr merged into stdout."""
    read_out, write_out = os.pipe()
    stdin = os.open(os.devnull, os.O_RDONLY)
    connection = _request(env, list(args), cwd, [stdin, write_out, write_out])
    loop = asyncio.get_running_loop()
    stdout = asyncio.StreamReader()
    pipe = os.fdopen(read_out, "rb", buffering=0)  # the transport closes it
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdout), pipe)
    connection.setblocking(False)
    status = await asyncio.open_unix_connection(sock=connection)
    pid = json.loads(await status[0].readline())["pid"]
    return BotProcess(pid, stdout, status)
