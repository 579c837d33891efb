"""Shared plumbing for the in-process fake HTTP servers.

Each fake builds an `aiohttp.web.Application`; this module starts it on
127.0.0.1 (port 0 by default, so parallel test runs never collide), reads the
bound port back, and offers a tiny command-line runner so the same fake can be
started as a separate process for end-to-end tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable

from aiohttp import web

# Uploaded training files can be far larger than aiohttp's 1 MiB default.
MAX_BODY_BYTES = 256 * 1024 * 1024

# Stopping must not hang a test on a request that is still sleeping
# (e.g. a delayed chat reply), so in-flight handlers get little grace time.
SHUTDOWN_TIMEOUT = 0.5


class FakeServer:
    """Owns the aiohttp runner; subclasses fill `self.app` with routes."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    @property
    def base_url(self) -> str:
        """Root URL of the running server, without a trailing slash."""
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        """Listen on 127.0.0.1:`port`; port 0 picks a free one."""
        if self._runner is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        # access_log=None keeps test output quiet (and headers out of logs).
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening; safe to call twice."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def run_standalone(make_server: Callable[[], FakeServer], description: str) -> None:
    """Command-line entry point: serve `make_server()` until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port to bind (0 = any free port)")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(make_server(), args.port))


async def _serve_forever(server: FakeServer, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await server.start(port)
    # Harnesses read this line to learn the port; it must never contain tokens.
    print(f"{type(server).__name__} listening on {server.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


async def stream_chat_reply(
    request: web.Request, completion_id: str, model: str, content: str
) -> web.StreamResponse:
    """A chat completion as OpenAI-compatible servers stream it (`stream: true`): server-sent
    `chat.completion.chunk` events, a word at a time, then `[DONE]`."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)

    def chunk(delta: dict, finish: str | None = None) -> bytes:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(data)}\n\n".encode()

    await response.write(chunk({"role": "assistant", "content": ""}))
    for word in content.split(" "):
        await response.write(chunk({"content": word + " "}))
    await response.write(chunk({}, "stop"))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response
