"""Checks FakeSlack's agent-app surface (streams, assistant threads, App Home,
membership) through the real slack_sdk client."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import FakeSlack

RECIPIENT = {"recipient_user_id": "U1", "recipient_team_id": "T1"}
PROMPTS = [{"title": "Train", "message": "Start a fine-tune"}]


async def slack_error(call) -> str:
    with pytest.raises(SlackApiError) as err:
        await call
    return err.value.response["error"]


async def test_post_and_update_fill_the_message_store(slack: FakeSlack, client: AsyncWebClient):
    parent = await client.chat_postMessage(channel="C1", text="parent")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    reply = await client.chat_postMessage(
        channel="C1", text="reply", blocks=blocks, thread_ts=parent["ts"]
    )
    await client.chat_update(channel="C1", ts=reply["ts"], text="edited")
    await client.chat_update(channel="C1", ts="1.000001", text="never posted")

    edited = slack.message("C1", reply["ts"])
    assert (edited.text, edited.blocks, edited.thread_ts) == ("edited", blocks, parent["ts"])
    assert [m.text for m in slack.thread("C1", parent["ts"])] == ["parent", "edited"]
    assert slack.message("C1", "1.000001").text == "never posted"
    with pytest.raises(AssertionError):
        slack.message("C1", "9.9")


async def test_chat_stream_helper_starts_appends_and_stops(
    slack: FakeSlack, client: AsyncWebClient
):
    streamer = await client.chat_stream(
        channel="C1", thread_ts="100.000001", buffer_size=1, **RECIPIENT
    )
    await streamer.append(markdown_text="Hel")
    assert slack.message("C1", streamer.ts).streaming
    await streamer.append(markdown_text="lo")
    await streamer.stop(markdown_text="!")

    methods = [call.method for call in slack.calls]
    assert methods == ["chat.startStream", "chat.appendStream", "chat.stopStream"]
    message = slack.message("C1", streamer.ts)
    assert (message.text, message.streaming, message.thread_ts) == ("Hello!", False, "100.000001")
    assert (message.recipient_user_id, message.recipient_team_id) == ("U1", "T1")
    assert slack.thread("C1", "100.000001") == [message]


async def test_stop_stream_with_blocks_answers_the_final_message(client: AsyncWebClient):
    start = await client.chat_startStream(channel="D1", thread_ts="1.1", markdown_text="a")
    blocks = [{"type": "context_actions", "elements": []}]

    stop = await client.chat_stopStream(
        channel="D1", ts=start["ts"], chunks=[{"type": "markdown_text", "text": "b"}], blocks=blocks
    )

    assert stop["message"]["text"] == "ab"
    assert stop["message"]["blocks"] == blocks
    assert stop["message"]["ts"] == start["ts"]


async def test_stream_in_a_channel_needs_a_recipient(client: AsyncWebClient):
    call = client.chat_startStream(channel="C1", thread_ts="1.1", markdown_text="x")
    assert await slack_error(call) == "missing_recipient_user_id"

    call = client.chat_startStream(channel="C1", thread_ts="1.1", recipient_user_id="U1")
    assert await slack_error(call) == "missing_recipient_team_id"
    # DMs know their reader already.
    assert (await client.chat_startStream(channel="D1", thread_ts="1.1"))["ok"]


async def test_append_after_stop_and_to_unknown_ts(client: AsyncWebClient):
    start = await client.chat_startStream(channel="D1", thread_ts="1.1")
    await client.chat_stopStream(channel="D1", ts=start["ts"])

    append = client.chat_appendStream(channel="D1", ts=start["ts"], markdown_text="late")
    assert await slack_error(append) == "message_not_in_streaming_state"
    unknown = client.chat_appendStream(channel="D1", ts="5.5", markdown_text="x")
    assert await slack_error(unknown) == "message_not_found"


async def test_expired_stream_can_still_be_updated(slack: FakeSlack, client: AsyncWebClient):
    start = await client.chat_startStream(channel="D1", thread_ts="1.1", markdown_text="part")
    slack.expire_stream("D1", start["ts"])

    stop = client.chat_stopStream(channel="D1", ts=start["ts"], markdown_text="rest")
    assert await slack_error(stop) == "message_not_in_streaming_state"
    await client.chat_update(channel="D1", ts=start["ts"], text="part rest")
    assert slack.message("D1", start["ts"]).text == "part rest"


async def test_set_status_and_how_it_clears(slack: FakeSlack, client: AsyncWebClient):
    thread = ("D1", "1.1")
    await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="thinking…")
    assert slack.statuses[thread] == "thinking…"
    await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="")
    assert thread not in slack.statuses

    await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="again")
    await client.chat_postMessage(channel="D1", thread_ts="1.1", text="answer")
    assert thread not in slack.statuses
    await client.assistant_threads_setStatus(channel_id="D1", thread_ts="1.1", status="more")
    await client.chat_startStream(channel="D1", thread_ts="1.1")
    assert thread not in slack.statuses
    assert slack.status_history(*thread) == ["thinking…", "", "again", "more"]

    missing = client.api_call("assistant.threads.setStatus", json={"channel_id": "D1"})
    assert await slack_error(missing) == "invalid_arguments"


async def test_suggested_prompts_ignore_thread_ts_in_agent_view(
    slack: FakeSlack, client: AsyncWebClient
):
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D1", thread_ts="1.1", prompts=PROMPTS
    )
    assert slack.suggested_prompts == {}

    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D1", prompts=PROMPTS, title="Try"
    )
    assert slack.suggested_prompts["D1"] == {"title": "Try", "prompts": PROMPTS}

    slack.agent_view = False
    await client.assistant_threads_setSuggestedPrompts(
        channel_id="D2", thread_ts="1.1", prompts=PROMPTS
    )
    assert slack.suggested_prompts["D2"]["prompts"] == PROMPTS


@pytest.mark.parametrize(
    "prompts", [[], PROMPTS * 5, [{"title": "t", "message": ""}], [{"message": "m"}]]
)
async def test_suggested_prompts_are_validated(client: AsyncWebClient, prompts):
    call = client.assistant_threads_setSuggestedPrompts(channel_id="D1", prompts=prompts)
    assert await slack_error(call) == "invalid_arguments"


async def test_views_publish_keeps_the_latest_home(slack: FakeSlack, client: AsyncWebClient):
    first = {"type": "home", "blocks": []}
    latest = {"type": "home", "blocks": [{"type": "divider"}]}
    await client.views_publish(user_id="U1", view=first)
    response = await client.views_publish(user_id="U1", view=latest)

    assert response["view"]["id"].startswith("V")
    assert slack.home_views == {"U1": latest}
    modal = client.views_publish(user_id="U1", view={"type": "modal", "blocks": []})
    assert await slack_error(modal) == "invalid_arguments"


async def test_not_joined_channel_refuses_posts(slack: FakeSlack, client: AsyncWebClient):
    posted = await client.chat_postMessage(channel="C1", text="before")
    slack.not_joined("C1")

    assert await slack_error(client.chat_postMessage(channel="C1", text="x")) == "not_in_channel"
    update = client.chat_update(channel="C1", ts=posted["ts"], text="x")
    assert await slack_error(update) == "not_in_channel"
    stream = client.chat_startStream(channel="C1", thread_ts="1.1", **RECIPIENT)
    assert await slack_error(stream) == "not_in_channel"


async def test_chat_write_public_posts_to_public_channels_only(
    slack: FakeSlack, client: AsyncWebClient
):
    slack.scopes.add("chat:write.public")
    slack.not_joined("C1")
    slack.not_joined("G1")

    posted = await client.chat_postMessage(channel="C1", text="hello")
    await client.chat_update(channel="C1", ts=posted["ts"], text="edited")
    assert slack.message("C1", posted["ts"]).text == "edited"
    assert await slack_error(client.chat_postMessage(channel="G1", text="x")) == "not_in_channel"


async def test_conversations_info_reports_membership(slack: FakeSlack, client: AsyncWebClient):
    slack.not_joined("G1")

    joined = (await client.conversations_info(channel="C1"))["channel"]
    private = (await client.conversations_info(channel="G1"))["channel"]

    assert (joined["id"], joined["is_member"], joined["is_private"]) == ("C1", True, False)
    assert (private["is_member"], private["is_private"]) == (False, True)


async def test_upload_into_a_thread_is_recorded(slack: FakeSlack, client: AsyncWebClient):
    await client.files_upload_v2(
        channel="C1", thread_ts="1.1", content=b"x", filename="a.txt", initial_comment="here"
    )

    [upload] = slack.uploads
    assert (upload.channel_id, upload.thread_ts, upload.initial_comment) == ("C1", "1.1", "here")
