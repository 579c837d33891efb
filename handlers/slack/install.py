"""Installing from a link (SLACK_CLIENT_ID): Bolt's OAuth flow at /slack/install and
/slack/oauth_redirect, each workspace's token in Redis (storage/installations.py), gone at once
when the app is uninstalled or its tokens are revoked.

With TEAMS=many each workspace that installs is a team of its own (bot/teams.py), and the
person who installed it is its first admin. With TEAMS=one the deployment serves one workspace:
everything it stores is that workspace's, a second workspace's install is refused
(storage/installations.py) with a page that says why, and the installed token is the app
client's, for what is posted outside events.
"""

from __future__ import annotations

import html
import logging
from typing import Protocol

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot

from bot.config import Settings
from bot.errors import REDIS_DOWN
from bot.teams import Teams
from storage.installations import AnotherWorkspace

logger = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# manifest.yml's bot scopes (tests/handlers/slack/test_manifest.py keeps the two the same).
BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "chat:write",
    "chat:write.public",
    "commands",
    "files:write",
    "im:history",
    "im:write",
    "reactions:read",
    "channels:history",
    "groups:history",
)


class Installations(Protocol):
    """What the flow and this module use of storage/installations.py's store."""

    async def bots(self) -> list[Bot]: ...

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool = False
    ) -> Bot | None: ...

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None: ...


class InstalledBotAuthorize(AsyncAuthorize):
    """Each event's workspace and its bot token, from the installation store: Bolt's own asks
    Slack's `auth.test` on every event (a round trip to Slack before each ack) to learn what the
    stored bot record already holds. Read at every event, so an uninstall or a reinstall holds
    at once in every process."""

    def __init__(self, store: Installations) -> None:
        super().__init__()
        self._store = store

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        **actor: str | None,
    ) -> AuthorizeResult | None:
        bot = await self._store.async_find_bot(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=bool(context.is_enterprise_install),
        )
        if bot is None or not bot.bot_token:
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )


class SlackInstall:
    """The OAuth flow's settings, and what an install and an uninstall change: a team (TEAMS=
    many), or the installed workspace's token on the app's own client (TEAMS=one)."""

    def __init__(
        self, settings: Settings, store: Installations, states: object, teams: Teams
    ) -> None:
        self.store = store
        self.authorize = InstalledBotAuthorize(store)
        self._teams = teams
        self.oauth_settings = AsyncOAuthSettings(
            client_id=settings.slack_client_id,
            client_secret=settings.slack_client_secret,
            scopes=list(BOT_SCOPES),
            user_scopes=[],
            install_path=INSTALL_PATH,
            redirect_uri_path=REDIRECT_PATH,
            authorization_url=settings.slack_authorize_url,
            installation_store=store,
            installation_store_bot_only=True,
            state_store=states,
            callback_options=AsyncCallbackOptions(success=self._installed, failure=self._refused),
        )
        self._app: AsyncApp | None = None

    def attach(self, app: AsyncApp) -> None:
        self._app = app
        if not self._teams.many:
            app.middleware(self._keep_token)
        app.event("app_uninstalled")(self._uninstalled)
        app.event("tokens_revoked")(self._revoked)

    async def installed_workspaces(self) -> list[str]:
        return [bot.enterprise_id or bot.team_id for bot in await self.store.bots()]

    async def load_token(self) -> None:
        """At start (TEAMS=one): the installed workspace's token onto the app's client, if one
        is. With Redis down it is taken from the workspace's next event instead."""
        if self._teams.many:
            return
        try:
            bots = await self.store.bots()
        except REDIS_DOWN:
            logger.warning("slack: the installation can't be read yet (storage unreachable)")
            return
        for bot in bots:
            self._app.client.token = bot.bot_token
            logger.info("slack: serving the installed workspace %s", bot.team_id)

    async def _revoke(self, token: str | None) -> None:
        """Slack installed the app in the refused workspace before asking us to keep the token:
        revoked, nothing of it is left installed there (its admins remove the app's entry)."""
        if not token:
            return
        try:
            await self._app.client.auth_revoke(token=token)
        except SlackApiError as error:
            reason = error.response.get("error")
            logger.warning("slack: the refused workspace's token was not revoked (%s)", reason)
        except (aiohttp.ClientError, TimeoutError) as error:
            name = type(error).__name__
            logger.warning("slack: the refused workspace's token was not revoked (%s)", name)

    async def _keep_token(self, context: AsyncBoltContext, next) -> None:
        # The token Bolt found for this event's workspace is the one to use outside events.
        if context.bot_token and self._app.client.token != context.bot_token:
            self._app.client.token = context.bot_token
        await next()

    async def _installed(self, args: AsyncSuccessArgs) -> BoltResponse:
        installation = args.installation
        if self._teams.many:
            workspace = installation.enterprise_id or installation.team_id
            team = await self._teams.installed(f"slack:{workspace}", installation.user_id)
            logger.info("slack: installed in workspace %s (team %s)", workspace, team)
        else:
            self._app.client.token = installation.bot_token
            logger.info("slack: installed in workspace %s", installation.team_id)
        name = html.escape(installation.team_name or installation.team_id or "your workspace")
        return _page(200, f"Installed in {name}. Mention the bot in a channel to start.")

    async def _refused(self, args: AsyncFailureArgs) -> BoltResponse:
        if isinstance(args.error, AnotherWorkspace):
            await self._revoke(args.error.token)
            if args.error.limit == 1:
                return _page(
                    403,
                    "This bot already serves another Slack workspace, and each keeps its own "
                    "conversations and model: ask its operator for a bot of your own.",
                )
            return _page(
                403,
                "This bot serves as many Slack workspaces as its operator allows: ask them "
                "for room.",
            )
        logger.warning("slack: an install failed (%s)", args.reason)
        return _page(args.suggested_status_code, "The install did not finish. Try again.")

    async def _uninstalled(self, body: dict) -> None:
        await self._forget(body, "the app was uninstalled")

    async def _revoked(self, event: dict, body: dict) -> None:
        if event.get("tokens", {}).get("bot"):
            await self._forget(body, "the bot's token was revoked")

    async def _forget(self, body: dict, why: str) -> None:
        team = body.get("team_id")
        await self.store.async_delete_all(enterprise_id=body.get("enterprise_id"), team_id=team)
        logger.info("slack: %s in workspace %s; its token is deleted", why, team)
        if self._teams.many:
            workspace = body.get("enterprise_id") or team
            await self._teams.uninstalled(f"slack:{workspace}")
        else:
            self._app.client.token = None


def _page(status: int, sentence: str) -> BoltResponse:
    body = f"<!doctype html><html><body><p>{sentence}</p></body></html>"
    return BoltResponse(status=status, body=body, headers={"Content-Type": "text/html"})
