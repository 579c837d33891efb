"""FakeOpenAI with faults on any route: HTTP errors, timeouts, broken JSON, lost answers.

A "lost" fault lets the request do its work and then answers 502, the way a proxy drops a
reply: the job exists on the server but the client never heard of it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.openai_api import FakeOpenAI


@dataclass
class Fault:
    kind: int | str  # an HTTP status, "timeout", "malformed" or "lost"


class FaultyOpenAI(FakeOpenAI):
    def __init__(self, api_key: str = "sk-test") -> None:
        super().__init__(api_key)
        self._faults: dict[tuple[str, str], deque[Fault]] = {}
        self.hang_seconds = 30.0
        self.app.middlewares.append(self._fault_middleware)

    def fail(self, method: str, path: str, kind: int | str, times: int = 1) -> None:
        """Make the next `times` requests to `method path` (exact path under /v1) fail."""
        queue = self._faults.setdefault((method.upper(), path), deque())
        queue.extend(Fault(kind) for _ in range(times))

    def requests_to(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method.upper() and r.path == path)

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        queue = self._faults.get((request.method, request.path))
        if not queue:
            return await handler(request)
        fault = queue.popleft()
        if fault.kind == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return web.json_response({}, status=504)
        if fault.kind == "malformed":
            return web.Response(text='{"id": "broken", "sta', content_type="application/json")
        if fault.kind == "lost":
            await handler(request)
            return web.Response(status=502, text="Bad gateway")
        error = {"message": f"Simulated HTTP {fault.kind}.", "type": "server_error"}
        return web.json_response({"error": error}, status=int(fault.kind))
