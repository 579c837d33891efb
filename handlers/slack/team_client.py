"""The Slack client of one team (TEAMS=many), for what the bot posts outside any event: a job's
progress, a comparison's answers, a notice. It speaks with the token of the team's workspace,
read from the installation store at each call, so an uninstall (its token deleted) or a
reinstall (a new token) holds at once, in every process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.teams import Teams
from handlers.slack.install import Installations

TokenOf = Callable[[], Awaitable[str | None]]


class TeamSlackClient(AsyncWebClient):
    def __init__(self, app: AsyncApp, token_of: TokenOf) -> None:
        super().__init__(base_url=app.client.base_url, timeout=app.client.timeout)
        self._app = app
        self._token_of = token_of

    async def api_call(self, api_method: str, **options: Any) -> AsyncSlackResponse:
        # The app's shared session (set once serving starts), not a connection per call.
        self.session = self._app.client.session
        self.token = await self._token_of()
        # No token (uninstalled): Slack answers not_authed, which every caller handles.
        return await super().api_call(api_method, **options)


def team_client(app: AsyncApp, teams: Teams, store: Installations, team: str) -> TeamSlackClient:
    async def token_of() -> str | None:
        record = await teams.directory.record(team)
        if record is None or record.slack is None:
            return None
        bot = await store.async_find_bot(enterprise_id=None, team_id=record.slack[len("slack:") :])
        return bot.bot_token if bot else None

    return TeamSlackClient(app, token_of)
