"""The HTTP server: Slack's endpoint (HTTP mode), OpenAI's webhooks and a health check."""

from __future__ import annotations

import hmac
import json
import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from openai import AsyncOpenAI, InvalidWebhookSignatureError
from slack_bolt.async_app import AsyncApp

from handlers.slack.endpoint import InstallPages, SlackEndpoint

logger = logging.getLogger(__name__)

# 1 MB is far above any Slack payload; a bigger body is not Slack's.
MAX_BODY_BYTES = 1024 * 1024
JOB_EVENTS = ("fine_tuning.job.succeeded", "fine_tuning.job.failed", "fine_tuning.job.cancelled")
# A job's id is logged and looked up; anything else in its place is not OpenAI's.
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
# What verifying a webhook raises besides a mismatch: a header missing or not UTF-8, a body
# not UTF-8 (ValueError), a signature that isn't ASCII (TypeError, from hmac.compare_digest).
UNVERIFIABLE = (InvalidWebhookSignatureError, ValueError, TypeError)


def build_web_app(
    slack: AsyncApp | None,
    is_ready: Callable[[], Awaitable[bool]],
    *,
    signing_secret: str = "",
    healthz_token: str | None = None,
    openai_client: AsyncOpenAI | None = None,
    webhook_secret: str | None = None,
    on_job_event: Callable[[str], Awaitable[object]] | None = None,
    load: Callable[[], dict] | None = None,
) -> web.Application:
    async def healthz(request: web.Request) -> web.Response:
        # Anyone may ask whether the bot is ready; only whoever holds HEALTHZ_TOKEN sees what
        # it is busy with (pid, loop lag, answers waiting).
        ready = await is_ready()
        body = {"ok": ready}
        if load and _carries_token(request, healthz_token):
            body.update(load())
        return web.json_response(body, status=200 if ready else 503)

    async def openai_webhook(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            headers = dict(request.headers)
            openai_client.webhooks.verify_signature(body, headers, secret=webhook_secret)
        except UNVERIFIABLE:
            logger.warning("webhook: rejected a call with a missing or bad signature")
            return web.json_response({"ok": False}, status=400)
        try:
            event_type, job_id = _job_event(body)
        except (ValueError, RecursionError) as error:
            logger.warning("webhook: refused a signed call that can't be read (%s)", error)
            return web.json_response({"ok": False}, status=400)
        if event_type in JOB_EVENTS:
            logger.info("webhook: %s for %s", event_type, job_id)
            await on_job_event(job_id)
        return web.json_response({"ok": True})

    _keep_request_bytes_out_of_the_log()
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    # Without a signing secret (Socket Mode) nothing on this port can tell Slack's requests.
    if slack is not None and signing_secret:
        app.router.add_post("/slack/events", SlackEndpoint(slack, signing_secret).handle)
    if slack is not None and slack.oauth_flow is not None:
        pages = InstallPages(slack.oauth_flow)
        app.router.add_get(slack.oauth_flow.install_path, pages.install)
        app.router.add_get(slack.oauth_flow.redirect_uri_path, pages.redirect)
    app.router.add_get("/healthz", healthz)
    if webhook_secret and openai_client and on_job_event:
        app.router.add_post("/openai/webhook", openai_webhook)
    return app


class _WithoutRequestBytes(logging.Filter):
    """aiohttp logs a request that is not valid HTTP (a bad header, a bad chunk) with a
    traceback that quotes the request's own bytes: the line stays, the bytes go."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            record.msg = "http: refused a request that is not valid HTTP (%s)"
            record.args = (type(error).__name__,)
            record.exc_info = record.exc_text = None
        return True


def _keep_request_bytes_out_of_the_log() -> None:
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(known, _WithoutRequestBytes) for known in server_log.filters):
        server_log.addFilter(_WithoutRequestBytes())


def _carries_token(request: web.Request, token: str | None) -> bool:
    """Whether the request carries `token`, as `Authorization: Bearer …` or `?token=…`."""
    if not token:
        return False
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    offered = [request.query.get("token", "")]
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    expected = token.encode()
    # Bytes: compare_digest refuses text that isn't ASCII, and a header can be anything.
    return any(
        hmac.compare_digest(given.encode("utf-8", "surrogatepass"), expected) for given in offered
    )


def _job_event(body: bytes) -> tuple[str, str | None]:
    """A signed webhook's event type and, for a job's event, the job's id; ValueError when the
    body is not an event."""
    event = json.loads(body.decode("utf-8"))
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise ValueError("not an event")
    if event["type"] not in JOB_EVENTS:
        return event["type"], None
    data = event.get("data")
    job_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        raise ValueError("a job's event without a job id")
    return event["type"], job_id
