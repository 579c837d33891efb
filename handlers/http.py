"""The HTTP server: Slack's endpoint (HTTP mode), OpenAI's webhooks and a health check."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from openai import AsyncOpenAI, InvalidWebhookSignatureError
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

logger = logging.getLogger(__name__)

# 1 MB is far above any Slack payload; a bigger body is not Slack's.
MAX_BODY_BYTES = 1024 * 1024
JOB_EVENTS = ("fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled")


def build_web_app(
    slack: AsyncApp | None,
    is_ready: Callable[[], Awaitable[bool]],
    *,
    openai_client: AsyncOpenAI | None = None,
    webhook_secret: str | None = None,
    on_job_event: Callable[[str], Awaitable[object]] | None = None,
    load: Callable[[], dict] | None = None,
) -> web.Application:
    async def slack_events(request: web.Request) -> web.Response:
        bolt_response = await slack.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        ready = await is_ready()
        body = {"ok": ready, **(load() if load else {})}
        return web.json_response(body, status=200 if ready else 503)

    async def openai_webhook(request: web.Request) -> web.Response:
        body = await request.text()
        try:
            headers = dict(request.headers)
            event = openai_client.webhooks.unwrap(body, headers, secret=webhook_secret)
        except (InvalidWebhookSignatureError, ValueError):
            logger.warning("webhook: rejected a call with a missing or bad signature")
            return web.json_response({"ok": False}, status=400)
        if event.type in JOB_EVENTS:
            logger.info("webhook: %s for %s", event.type, event.data.id)
            await on_job_event(event.data.id)
        return web.json_response({"ok": True})

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    if slack is not None:
        app.router.add_post("/slack/events", slack_events)
    app.router.add_get("/healthz", healthz)
    if webhook_secret and openai_client and on_job_event:
        app.router.add_post("/openai/webhook", openai_webhook)
    return app
