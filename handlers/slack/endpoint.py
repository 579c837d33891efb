"""Slack's HTTP endpoint (HTTP mode): a request's signature is checked over its raw bytes before
anything in it is parsed or logged, and only a signed request that parses reaches Bolt."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

logger = logging.getLogger(__name__)

# Slack's SDKs refuse a request signed further than 5 minutes from now: a replay, or a clock
# that is off (then every request is refused, each with the one line below).
MAX_SIGNATURE_AGE_SECONDS = 5 * 60
# Events come as JSON, slash commands and interactivity as a form; Slack sends nothing else.
CONTENT_TYPES = frozenset({"application/json", "application/x-www-form-urlencoded"})
# Slack checks a slash command's certificate with an unsigned `ssl_check=1&token=…`. It is
# answered as Bolt would, but only exactly that: nothing may ride along (bolt-js #2897).
SSL_CHECK = re.compile(
    rb"ssl_check=1(&token=[A-Za-z0-9]{1,100})?|token=[A-Za-z0-9]{1,100}&ssl_check=1"
)
# What a signed body that Bolt can't turn into a request raises while it parses: bad JSON
# (ValueError), nesting deeper than the parser goes (RecursionError), or JSON of another shape
# than Slack's where Bolt reads its ids (AttributeError and the rest).
UNREADABLE = (ValueError, RecursionError, AttributeError, TypeError, KeyError, IndexError)


class InstallPages:
    """GET /slack/install and /slack/oauth_redirect (installing from a link): Bolt's OAuth flow
    answers both; nothing in them is signed, so the flow's state (signed, taken once) and its
    browser cookie are what tie a redirect to an install this deployment began."""

    def __init__(self, flow: AsyncOAuthFlow) -> None:
        self._flow = flow

    async def install(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self._flow.handle_installation(_page(request)))

    async def redirect(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self._flow.handle_callback(_page(request)))


def _page(request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(body="", query=request.query_string, headers=dict(request.headers))


class SlackEndpoint:
    """POST /slack/events: 401 for a request Slack did not sign, 400 for a signed one that can't
    be read, and Bolt's answer otherwise. A refusal logs one line and nothing from the request."""

    def __init__(self, app: AsyncApp, signing_secret: str) -> None:
        if not signing_secret:
            raise ValueError("Slack's HTTP endpoint needs the signing secret")
        self._app = app
        self._secret = signing_secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._is_signed(body, request.headers):
            if SSL_CHECK.fullmatch(body):
                return web.Response()
            logger.warning("slack: request with a bad or stale signature refused")
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_request = _to_bolt_request(body, request)
        if bolt_request is None:
            return web.json_response({"error": "bad request"}, status=400)
        return await to_aiohttp_response(await self._app.async_dispatch(bolt_request))

    def _is_signed(self, body: bytes, headers: Mapping[str, str]) -> bool:
        """Slack's v0 signature, computed over the bytes as they came: nothing is decoded
        before it matches (slack_sdk's verifier takes text, and `int()` of any timestamp)."""
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        # Digits only, and few: int() of thousands of digits raises rather than compares.
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if abs(time.time() - int(timestamp)) > MAX_SIGNATURE_AGE_SECONDS:
            return False
        if not signature.isascii():
            return False
        base = b"v0:" + timestamp.encode() + b":" + body
        expected = "v0=" + hmac.new(self._secret, base, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected.encode(), signature.encode())


def _form(text: str) -> dict:
    """A slash command's fields, or an interaction's `payload` JSON."""
    fields = dict(parse_qsl(text, keep_blank_values=True))
    return json.loads(fields["payload"]) if "payload" in fields else fields


def _to_bolt_request(body: bytes, request: web.Request) -> AsyncBoltRequest | None:
    """Bolt's request for a signed body, or None (logged in one line) when it can't be read."""
    if request.content_type not in CONTENT_TYPES:
        # Not the header's value: the signature covers the body, not the Content-Type.
        logger.warning("slack: refused a signed request that is neither JSON nor a form")
        return None
    try:
        text = body.decode("utf-8")
        if not text.strip():
            raise ValueError("an empty body")
        # Bolt parses the body as it builds the request, and reads ids from it.
        bolt_request = AsyncBoltRequest(
            body=text, query=request.query_string, headers=request.headers
        )
        if request.content_type == "application/x-www-form-urlencoded":
            # Bolt takes any form with "payload" anywhere in it for an interaction, so a slash
            # command whose text says "payload" would parse as nothing: parse by the key.
            bolt_request.body = _form(text)
            bolt_request.context = build_async_context(AsyncBoltContext({}), bolt_request.body)
        return bolt_request
    except UNREADABLE as error:
        logger.warning(
            "slack: refused a signed request that can't be read (%s)", type(error).__name__
        )
        return None
