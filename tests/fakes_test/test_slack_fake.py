"""Checks that the real slack_sdk client works end to end against FakeSlack."""

from __future__ import annotations

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack


async def test_auth_test_identifies_the_bot(slack: FakeSlack, client: AsyncWebClient):
    response = await client.auth_test()

    assert response["user_id"] == "UBOT"
    assert response["bot_id"] == "BBOT"
    assert response["team_id"] == "T1"
    call = slack.calls_to("auth.test")[0]
    assert call.headers["Authorization"] == "Bearer xoxb-test-token"


async def test_post_message_returns_increasing_ts_and_records_blocks(
    slack: FakeSlack, client: AsyncWebClient
):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    first = await client.chat_postMessage(channel="C1", text="hello", blocks=blocks)
    second = await client.chat_postMessage(channel="C1", text="again", thread_ts=first["ts"])

    assert float(second["ts"]) > float(first["ts"])
    assert second["message"]["thread_ts"] == first["ts"]
    assert first["message"]["bot_id"] == "BBOT"
    call = await slack.wait_for("chat.postMessage", lambda c: c.params["text"] == "hello")
    assert call.params["blocks"] == blocks
    assert call.params["channel"] == "C1"


async def test_conversations_open_gives_dm_channel(client: AsyncWebClient):
    response = await client.conversations_open(users="U42")

    assert response["channel"]["id"] == "DU42"


async def test_files_upload_v2_captures_bytes(slack: FakeSlack, client: AsyncWebClient):
    response = await client.files_upload_v2(
        channel="C9", content=b'{"a": 1}\n', filename="x.jsonl", initial_comment="hi"
    )

    assert response["file"]["name"] == "x.jsonl"
    [upload] = slack.uploads
    assert upload.content == b'{"a": 1}\n'
    assert upload.filename == "x.jsonl"
    assert upload.channel_id == "C9"
    assert upload.initial_comment == "hi"
    complete = slack.calls_to("files.completeUploadExternal")[0]
    assert complete.params["files"][0]["id"] == upload.file_id


async def test_response_url_posts_are_recorded(slack: FakeSlack):
    url = slack.response_url("cmd7")
    async with aiohttp.ClientSession() as session, session.post(url, json={"text": "done"}) as resp:
        assert resp.status == 200

    call = await slack.wait_for("response_url")
    assert call.params == {"text": "done", "_name": "cmd7"}


async def test_wrong_token_and_unknown_method(slack: FakeSlack):
    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    with pytest.raises(SlackApiError) as err:
        await bad.auth_test()
    assert err.value.response["error"] == "invalid_auth"

    good = AsyncWebClient(token=slack.bot_token, base_url=slack.api_url)
    with pytest.raises(SlackApiError) as err:
        await good.api_call("users.frobnicate")
    assert err.value.response["error"] == "unknown_method"
    assert [c.method for c in slack.calls] == ["auth.test", "users.frobnicate"]


async def test_fail_next_injects_errors_then_recovers(slack: FakeSlack, client: AsyncWebClient):
    slack.fail_next("chat.postMessage", times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            await client.chat_postMessage(channel="C1", text="x")
        assert err.value.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"]


async def test_set_response_stubs_other_methods(slack: FakeSlack, client: AsyncWebClient):
    slack.set_response("users.info", lambda params: {"ok": True, "user": {"id": params["user"]}})

    response = await client.users_info(user="U5")

    assert response["user"]["id"] == "U5"


async def test_wait_for_reports_what_was_called(slack: FakeSlack, client: AsyncWebClient):
    await client.auth_test()

    with pytest.raises(AssertionError, match=r"auth\.test"):
        await slack.wait_for("chat.postMessage", timeout=0.05)


async def test_multipart_upload_is_captured(slack: FakeSlack, client: AsyncWebClient):
    reserved = await client.files_getUploadURLExternal(filename="y.txt", length=3)
    form = aiohttp.FormData()
    form.add_field("file", b"abc", filename="y.txt")
    async with (
        aiohttp.ClientSession() as session,
        session.post(reserved["upload_url"], data=form) as resp,
    ):
        assert await resp.text() == "OK - 3"

    files = [{"id": reserved["file_id"], "title": "Y"}]
    await client.files_completeUploadExternal(files=files, channel_id="C2")

    assert slack.uploads[0].content == b"abc"
    assert slack.uploads[0].title == "Y"
