"""The Slack front end: one Bolt AsyncApp with every listener registered here."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt import BoltResponse
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_not_exception_type,
    wait_exponential,
)

from bot.config import SettingsError
from bot.errors import REDIS_DOWN
from bot.teams import Teams
from handlers.slack import actions, commands, comparison, events, feedback, home, reactions, views
from handlers.slack.install import SlackInstall

logger = logging.getLogger(__name__)

# Slack's answers that no retry changes: the token is wrong, revoked, of another kind, or its
# app lacks the scope (connections:write for Socket Mode). Anything else is tried again.
REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
    }
)
FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 30.0


class SlackRefused(SettingsError):
    """Slack refused a token for good; start-up stops with one line naming the variable."""

    def __init__(self, variable: str, error: str) -> None:
        super().__init__(f"{variable} was refused by Slack ({error})")


def build_slack_app(teams: Teams, install: SlackInstall | None = None) -> AsyncApp:
    """`install`: installed from a link (SLACK_CLIENT_ID), each workspace's token found by
    Bolt in the installation store; otherwise SLACK_BOT_TOKEN. Each event is handed to the
    face of its workspace's team."""
    core = teams.face_of_default
    settings = core.settings
    # The token, not a client of ours: given a client, Bolt still reads SLACK_BOT_TOKEN from
    # the environment and warns at every start that the token will be unused.
    credentials = (
        {"oauth_settings": install.oauth_settings, "authorize": install.authorize}
        if install
        else {"token": settings.slack_bot_token}
    )
    app = AsyncApp(
        # Named, or Bolt walks the whole call stack (reading each frame's source) to name it.
        name="finetune-bot",
        **credentials,
        signing_secret=settings.slack_signing_secret or None,
        # Our endpoint (endpoint.py) checks each HTTP request's signature before anything in it
        # is parsed; Bolt's check comes after parsing and logs the whole body of a request it
        # refuses, at INFO. Socket Mode connections are authenticated by the app token.
        request_verification_enabled=False,
        # Slash commands and events are acknowledged at once; listeners run after the ack.
        process_before_response=False,
        # Bolt drops events about the bot's own messages, the deletion of its replies among
        # them; our listeners skip the bot's messages and reactions themselves.
        ignoring_self_events_enabled=False,
    )

    async def provide_services(context: AsyncBoltContext, next) -> BoltResponse | None:
        # Listeners are module-level functions; they find their team's face here.
        workspace = context.enterprise_id if context.is_enterprise_install else context.team_id
        if teams.many and not workspace:
            logger.warning("slack: a request that names no workspace was dropped")
            return BoltResponse(status=200, body="")
        context["place"] = f"slack:{workspace}"
        context["core"] = await teams.face(context["place"])
        if context.response_url:
            context["respond"] = PooledRespond(context.response_url, app.client.session)
        await next()

    async def run_each_signed_request_once(
        req: AsyncBoltRequest, body: dict, next
    ) -> BoltResponse | None:
        # A slash command or an action replayed with its signature within the 5 minutes it is
        # accepted would run again (a second rollback rolls forward). Slack never sends the
        # same signed bytes twice: its retries of events are signed anew, and events have
        # their own ids. So a signature seen before is a replay, acknowledged and dropped.
        signature = (req.headers.get("x-slack-signature") or [""])[0]
        if not signature or "event_id" in body:
            return await next()
        try:
            first = await core.seen.first_time(f"slack-signature-{signature}")
        except REDIS_DOWN:
            first = True  # can't tell: run it, as before storage went away
        if not first:
            logger.warning("slack: a replayed signed request was dropped")
            return BoltResponse(status=200, body="")
        return await next()

    # Bolt copies its client's base URL into every listener's client.
    app.client.base_url = settings.slack_api_url
    app.middleware(run_each_signed_request_once)
    app.middleware(provide_services)
    if install:
        install.attach(app)
    events.register(app)
    reactions.register(app)
    commands.register(app)
    actions.register(app)
    views.register(app)
    feedback.register(app)
    home.register(app)
    comparison.register(app)
    return app


def share_connections(app: AsyncApp) -> aiohttp.ClientSession:
    """Keep Slack connections open between calls. Without a session slack_sdk opens a new one,
    a new connection (and TLS handshake) for every API call: under load that was most of the
    bot's time. Bolt hands the app client's session to every request's client."""
    timeout = aiohttp.ClientTimeout(total=app.client.timeout)
    app.client.session = aiohttp.ClientSession(timeout=timeout)
    return app.client.session


class PooledRespond:
    """Bolt's `respond()` (a slash command's or a button's response_url), over the app's shared
    session: Bolt's own opens a new connection, a TLS handshake at Slack, for every answer."""

    def __init__(self, url: str, session: aiohttp.ClientSession | None) -> None:
        self._webhook = AsyncWebhookClient(url, session=session)

    async def __call__(self, text: str | None = None, **message: Any) -> WebhookResponse:
        return await self._webhook.send(text=text, **message)


class SlackIdentity:
    """The bot's own user id from auth.test; healthz reports ready only once it is known."""

    def __init__(self, app: AsyncApp) -> None:
        self._app = app
        self.bot_user_id: str | None = None

    async def resolve(self) -> None:
        """Ask until Slack answers, for as long as the bot runs; raises SlackRefused."""
        response = await ask_slack(self._app.client.auth_test, "SLACK_BOT_TOKEN", "auth.test")
        self.bot_user_id = response["user_id"]
        logger.info("slack: connected as %s", self.bot_user_id)


class SlackSocket:
    """Slack's Socket Mode connection (SLACK_APP_TOKEN). Built inside the running event loop:
    slack_sdk opens its aiohttp session when the handler is created."""

    def __init__(self, app: AsyncApp, app_token: str) -> None:
        self._app_token = app_token
        self._handler = AsyncSocketModeHandler(app, app_token)

    async def connect(self) -> None:
        """Get the connection's URL the way auth.test is asked (a refusal raises SlackRefused,
        anything else is retried), then connect; slack_sdk reconnects by itself from then on."""
        client = self._handler.client
        response = await ask_slack(
            lambda: client.web_client.apps_connections_open(app_token=self._app_token),
            "SLACK_APP_TOKEN",
            "apps.connections.open",
        )
        client.wss_uri = response["url"]
        await self._handler.connect_async()
        logger.info("slack: socket mode connected")

    async def close(self) -> None:
        await self._handler.close_async()


async def ask_slack(
    call: Callable[[], Awaitable[AsyncSlackResponse]], variable: str, method: str
) -> AsyncSlackResponse:
    """`call()` until Slack answers, with backoff; a refusal of the token raises SlackRefused.
    Anything else (unreachable, timed out, rate limited, a proxy's error page) is tried again."""

    def say(state: RetryCallState) -> None:
        error = state.outcome.exception()
        reason = _reason(error) if isinstance(error, SlackApiError) else type(error).__name__
        wait = state.next_action.sleep
        logger.warning("slack: %s failed (%s), retrying in %.0f s", method, reason, wait)

    retrying = AsyncRetrying(
        retry=retry_if_not_exception_type(SlackRefused),
        wait=wait_exponential(multiplier=FIRST_RETRY_SECONDS, max=MAX_RETRY_SECONDS),
        before_sleep=say,
    )
    async for attempt in retrying:
        with attempt:
            try:
                return await call()
            except SlackApiError as error:
                if _reason(error) in REFUSALS:
                    raise SlackRefused(variable, _reason(error)) from None
                raise


def _reason(error: SlackApiError) -> str:
    return error.response.get("error") or f"HTTP {error.response.status_code}"
