"""The Slack front end: one Bolt AsyncApp with every listener registered here."""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import Services
from bot.config import Settings
from handlers.slack import actions, commands, events, views

logger = logging.getLogger(__name__)


def build_web_client(settings: Settings) -> AsyncWebClient:
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)


def build_slack_app(services: Services, client: AsyncWebClient) -> AsyncApp:
    settings = services.settings
    app = AsyncApp(
        client=client,
        token=settings.slack_bot_token,
        # Socket Mode connections are authenticated by the app token instead of signatures.
        signing_secret=settings.slack_signing_secret or None,
        request_verification_enabled=not settings.socket_mode,
        # Slash commands and events are acknowledged at once; listeners run after the ack.
        process_before_response=False,
        # Bolt drops events about the bot's own messages, the deletion of its replies among
        # them; our listeners skip the bot's messages and reactions themselves.
        ignoring_self_events_enabled=False,
    )

    async def provide_services(context: AsyncBoltContext, next) -> None:
        # Listeners are module-level functions; they find the core's services here.
        context["services"] = services
        await next()

    app.middleware(provide_services)
    events.register(app, services)
    commands.register(app)
    actions.register(app)
    views.register(app)
    return app


class SlackIdentity:
    """The bot's own user id from auth.test; healthz reports ready only once it is known."""

    def __init__(self, app: AsyncApp) -> None:
        self._app = app
        self.bot_user_id: str | None = None

    async def resolve(self, attempts: int = 30, delay: float = 2.0) -> None:
        for _ in range(attempts):
            try:
                response = await self._app.client.auth_test()
                self.bot_user_id = response["user_id"]
                logger.info("slack: connected as %s", self.bot_user_id)
                return
            except Exception as exc:
                logger.warning("slack: auth.test failed (%s), retrying", type(exc).__name__)
                await asyncio.sleep(delay)
