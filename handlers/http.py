"""The HTTP server for HTTP mode: Slack's endpoint and a health check."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

# 1 MB is far above any Slack payload; a bigger body is not Slack's.
MAX_BODY_BYTES = 1024 * 1024


def build_web_app(slack: AsyncApp, is_ready: Callable[[], Awaitable[bool]]) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await slack.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        if await is_ready():
            return web.json_response({"ok": True})
        return web.json_response({"ok": False}, status=503)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    return app
