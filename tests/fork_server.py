"""A process that has imported the bot once and forks a fresh `python -m bot …` per request.

The command-line tests run about a hundred commands, and each `python -m bot` spends a second
of CPU importing openai, redis, pydantic and the bot before it reads its arguments. Forked from
here, each command is still a process of its own: its own arguments, environment, working
directory, stdin, stdout and stderr, signals, exit status and interpreter shutdown (atexit
included). Only the imports are shared.

One connection per command. The client sends one JSON line, `{"argv", "env", "cwd"}`, with
three file descriptors attached (stdin, stdout, stderr). The server answers one JSON line
`{"pid": …}` when the command starts, and one `{"code": …}` when it ends. The code is negative
when a signal killed the command, as `subprocess` reports it.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import signal
import socket
import sys


def main(path: str) -> None:
    # What every command imports before it reads its arguments, and what serving imports.
    for module in (
        "bot.__main__",
        "handlers.serving",
        "handlers.workers",
        "handlers.discord.comparison",
        "handlers.discord.reporter",
        "handlers.slack.comparison",
        "handlers.slack.reporter",
    ):
        importlib.import_module(module)

    # What was imported lives as long as each command: out of the way of its collections.
    gc.freeze()

    # Each request's supervisor (below) is reaped by the kernel; nothing here waits for it.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(path)
        server.listen(64)
        print("ready", flush=True)
        while True:
            connection, _ = server.accept()
            request, fds = _receive(connection)
            sys.stdout.flush()
            sys.stderr.flush()
            if os.fork() == 0:
                server.close()
                _supervise(connection, request, fds)
            connection.close()
            for fd in fds:
                os.close(fd)


def _receive(connection: socket.socket) -> tuple[dict, list[int]]:
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    while not data.endswith(b"\n"):
        more = connection.recv(1 << 16)
        if not more:
            break
        data += more
    return json.loads(data), fds


def _supervise(connection: socket.socket, request: dict, fds: list[int]) -> None:
    """The command runs in a child of this process, which waits for it to report its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    pid = os.fork()
    if pid == 0:
        connection.close()
        _run(request, fds)
        return
    for fd in fds:
        os.close(fd)
    connection.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    _, status = os.waitpid(pid, 0)
    connection.sendall(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
    os._exit(0)


def _run(request: dict, fds: list[int]) -> None:
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sys.argv = ["bot", *request["argv"]]
    # `python -m bot` has no `bot.__main__` module beside `__main__`; what it imports stays.
    del sys.modules["bot.__main__"]
    # As `python -m bot`: the module runs as __main__, and an exit or an uncaught exception
    # ends the interpreter the usual way, with its status, traceback and atexit handlers.
    runpy.run_module("bot", run_name="__main__", alter_sys=True)
    sys.exit(0)


if __name__ == "__main__":
    main(sys.argv[1])
