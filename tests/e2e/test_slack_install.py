"""Installing from a link (SLACK_CLIENT_ID): Bolt's OAuth flow against the Slack stand-in's
oauth.v2.access, the workspace's token kept encrypted in Redis, refused redirects, and an
uninstall that takes the token at once."""

from __future__ import annotations

import html
import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from cryptography.fernet import Fernet

from tests.e2e.test_core_loop import replies, settle

STATE_SECRET = "state-secret-for-tests"
KEY = Fernet.generate_key().decode()


def installed_from_a_link(slack, **overrides):
    return dict(
        slack_bot_token="",
        slack_client_id=slack.client_id,
        slack_client_secret=slack.client_secret,
        slack_state_secret=STATE_SECRET,
        token_encryption_key=KEY,
        slack_authorize_url=f"{slack.base_url}/oauth/v2/authorize",
        **overrides,
    )


@pytest.fixture
async def bot(start_bot, slack):
    return await start_bot(**installed_from_a_link(slack))


async def begin_install(bot) -> tuple[str, str]:
    """Open the install page as a browser does: (the state in its link, the cookie it set)."""
    async with bot.session.get(f"{bot.url}/slack/install", allow_redirects=False) as page:
        body = await page.text()
        cookie = page.headers["Set-Cookie"].split(";")[0]
    link = html.unescape(re.search(r'https?://[^"]*/oauth/v2/authorize\?[^"]*', body).group(0))
    query = parse_qs(urlsplit(link).query)
    assert query["client_id"] == ["1111.2222"] and "app_mentions:read" in query["scope"][0]
    return query["state"][0], cookie


async def redirect(bot, code: str, state: str, cookie: str) -> tuple[int, str]:
    """Slack sends the browser back after "Allow"."""
    url = f"{bot.url}/slack/oauth_redirect?code={code}&state={state}"
    async with bot.session.get(url, headers={"Cookie": cookie}) as response:
        return response.status, await response.text()


async def install(bot, slack, team: str) -> tuple[int, str]:
    state, cookie = await begin_install(bot)
    return await redirect(bot, slack.allow(team), state, cookie)


def tokens_used(slack, method: str) -> set[str]:
    return {call.headers.get("Authorization", "") for call in slack.calls_to(method)}


def everything_in_redis(url: str) -> bytes:
    client = redis.Redis.from_url(url)
    try:
        return b"".join(client.dump(key) or b"" for key in client.keys("*"))
    finally:
        client.close()


async def test_a_workspace_installs_from_the_link_and_its_mentions_are_answered(
    bot, slack, redis_url
):
    status, page = await install(bot, slack, "T1")
    assert status == 200 and "Installed in Workspace T1" in page
    [token] = slack.installed

    await bot.mention("hello from a workspace that installed from a link")
    await replies(slack, 1)
    assert tokens_used(slack, "chat.startStream") == {f"Bearer {token}"}
    # Nothing of the installation is in Redis in the clear.
    assert token.encode() not in everything_in_redis(redis_url)


async def test_a_replayed_or_forged_redirect_installs_nothing(bot, slack, caplog):
    state, cookie = await begin_install(bot)
    assert (await redirect(bot, slack.allow("T1"), state, cookie))[0] == 200
    replayed = await redirect(bot, slack.allow("T1"), state, cookie)
    assert replayed[0] == 401 and "did not finish" in replayed[1]

    other_state, _ = await begin_install(bot)
    forged = other_state[:-4] + "0000"
    status, _ = await redirect(bot, slack.allow("T1"), forged, f"slack-app-oauth-state={forged}")
    assert status == 401
    # The install page's state still works once; a browser without its cookie does not.
    status, _ = await redirect(bot, slack.allow("T1"), other_state, "")
    assert status == 400
    assert len(slack.installed) == 1
    assert "used before (a replay)" in caplog.text and "did not sign" in caplog.text
    assert state not in caplog.text and STATE_SECRET not in caplog.text


async def test_with_one_team_a_second_workspace_is_refused_with_a_page_and_nothing_kept(
    start_bot, slack, caplog
):
    bot = await start_bot(**installed_from_a_link(slack, teams="one"))
    await install(bot, slack, "T1")
    status, page = await install(bot, slack, "T2")
    assert status == 403 and "already serves another Slack workspace" in page
    assert "refused an install beyond 1 workspaces" in caplog.text
    # The token Slack issued to the refused workspace is revoked: nothing of it is left.
    assert set(slack.installed.values()) == {"T1"}
    # The first workspace is still the one served.
    await bot.mention("still here?")
    await replies(slack, 1)
    [first] = [token for token, team in slack.installed.items() if team == "T1"]
    assert tokens_used(slack, "chat.startStream") == {f"Bearer {first}"}


async def test_an_event_from_a_workspace_that_never_installed_is_not_answered(bot, slack, caplog):
    await install(bot, slack, "T1")
    bot.team = "T9"
    caplog.clear()
    await bot.mention("who are you?")
    await settle()
    assert not slack.calls_to("chat.startStream") and not slack.calls_to("chat.postMessage")
    assert (await bot.services.examples.stats()).examples == 0
    # One line says so, with nothing of the request or a token in it.
    [said] = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "installed into this workspace" in said.getMessage()
    assert "who are you" not in caplog.text and "xoxb-" not in caplog.text


async def test_an_uninstall_takes_the_token_at_once_and_a_reinstall_serves_again(bot, slack):
    await install(bot, slack, "T1")
    slack.uninstall("T1")
    await bot.send_event({"type": "app_uninstalled", "event_ts": "1.0"})
    await settle()
    await bot.mention("are you gone?")
    await settle()
    assert not slack.calls_to("chat.startStream")

    status, _ = await install(bot, slack, "T1")
    assert status == 200
    await bot.mention("and back?")
    await replies(slack, 1)
    [token] = slack.installed
    assert tokens_used(slack, "chat.startStream") == {f"Bearer {token}"}
