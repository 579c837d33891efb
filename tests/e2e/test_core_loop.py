"""The core loop through the public surface: chat, react, status, export."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.e2e.harness import CHANNEL, RunningBot


def bot_replies(slack) -> list:
    """The bot's finished messages in threads (answers, hints, apologies), oldest first: what
    a person sees, whether it was posted at once or streamed in and stopped."""
    finished = [m for m in slack.messages.values() if m.thread_ts and not m.streaming]
    return sorted(finished, key=lambda message: float(message.ts))


async def replies(slack, count: int, timeout: float = 5.0) -> list:
    """Wait until the bot has finished `count` messages in threads, then return them all."""
    for _ in range(int(timeout / 0.02)):
        finished = bot_replies(slack)
        if len(finished) >= count:
            return finished
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} replies, got {len(bot_replies(slack))}")


TESTS = str(Path(__file__).resolve().parents[1])
# Tasks that last as long as a bot or a server does; settling waits for all the others.
LASTING = {
    "RequestHandler.start",  # a kept-alive HTTP connection (a request in it has a waiter)
    "AnswerQueue._work",  # an answer worker (its answers are counted: `RunningBot.busy`)
    "JobWatcher.run",
    "Event.wait",  # the watcher's wait between polls
    "run_discord",
}


async def settle(at_most: float = 3.0) -> None:
    """Let the work the last events started finish, for asserting that nothing else happens:
    Bolt's listeners and discord.py's handlers (tasks of their own), and the answers of the bots
    in this process (a bot in another process needs a wait of its own)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + at_most
    await asyncio.sleep(0.05)
    while _busy() and loop.time() < deadline:  # noqa: ASYNC110  (no event says "idle")
        await asyncio.sleep(0.01)


def _busy() -> bool:
    working = [task for task in asyncio.all_tasks() if _bots_work(task.get_coro())]
    return bool(working) or any(bot.busy for bot in RunningBot.running)


def _bots_work(coroutine) -> bool:
    # The test's own tasks (the test, a check `eventually` runs) are what waits, not work.
    ours = getattr(coroutine, "cr_code", None) and coroutine.cr_code.co_filename.startswith(TESTS)
    return not ours and coroutine.__qualname__ not in LASTING


async def test_mention_is_answered_in_its_thread_in_the_configured_tone(bot, slack, openai_fake):
    openai_fake.reply = "Arr, a tale of the sea!"
    ts = await bot.mention("tell me a story about ships")

    [reply] = await replies(slack, 1)
    assert reply.thread_ts == ts
    assert reply.channel == CHANNEL
    assert reply.text == "Arr, a tale of the sea!"
    sent = openai_fake.chat_requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": bot.settings.system_prompt}
    assert sent[-1] == {"role": "user", "content": "tell me a story about ships"}


async def test_the_thread_history_reaches_the_model_on_the_next_mention(bot, slack, openai_fake):
    first = await bot.mention("my name is Ada")
    await replies(slack, 1)
    await bot.mention("what is my name?", thread_ts=first)
    await replies(slack, 2)

    sent = openai_fake.chat_requests[1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
    assert sent[1]["content"] == "my name is Ada"
    assert sent[2]["content"] == "Reply 1"


async def test_a_direct_message_is_answered(bot, slack):
    ts = bot.next_ts()
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": "D1",
        "user": "UALICE",
        "text": "hello there",
        "ts": ts,
        "event_ts": ts,
    }
    await bot.send_event(event)
    [reply] = await replies(slack, 1)
    assert reply.channel == "D1"


async def test_a_channel_message_that_mentions_the_bot_is_answered_once(bot, slack):
    ts = await bot.mention("hi")
    channel_copy = {
        "type": "message",
        "channel_type": "channel",
        "channel": CHANNEL,
        "user": "UALICE",
        "text": "<@UBOT> hi",
        "ts": ts,
        "event_ts": ts,
    }
    await bot.send_event(channel_copy)
    await replies(slack, 1)
    await settle()
    assert len(bot_replies(slack)) == 1


async def test_edits_and_bot_messages_are_ignored(bot, slack, openai_fake):
    ts = bot.next_ts()
    await bot.send_event(
        {
            "type": "message",
            "subtype": "message_changed",
            "channel_type": "im",
            "channel": "D1",
            "ts": ts,
            "event_ts": ts,
        }
    )
    await bot.send_event(
        {
            "type": "message",
            "channel_type": "im",
            "channel": "D1",
            "bot_id": "BOTHER",
            "text": "beep",
            "ts": ts,
            "event_ts": ts,
        }
    )
    await settle()
    assert slack.messages == {}
    assert openai_fake.chat_requests == []


async def test_a_retried_delivery_is_answered_only_once(bot, slack, openai_fake):
    await bot.mention("hi", event_id="EvSAME")
    await bot.mention("hi", event_id="EvSAME", retry_num=1)
    await bot.mention("hi", event_id="EvSAME", retry_num=2)
    await replies(slack, 1)
    await settle()
    assert len(bot_replies(slack)) == 1
    assert len(openai_fake.chat_requests) == 1


async def test_an_empty_mention_gets_a_hint_and_no_model_call(bot, slack, openai_fake):
    await bot.mention("   ")
    [reply] = await replies(slack, 1)
    assert "Ask me something" in reply.text
    assert openai_fake.chat_requests == []


async def test_a_model_failure_gets_an_apology_and_the_next_message_works(
    start_bot, slack, openai_fake
):
    bot = await start_bot()
    openai_fake.fail_chat(status=500, times=5)  # more than the SDK's retries
    await bot.mention("hello?")
    [apology] = await replies(slack, 1, timeout=15)
    assert "Sorry" in apology.text

    openai_fake.reply = "Back again!"
    await bot.mention("hello again")
    posted = await replies(slack, 2)
    assert posted[1].text == "Back again!"


async def test_a_reaction_makes_the_exact_conversation_an_example(bot, slack, openai_fake):
    await bot.mention("tell me a joke")
    [reply] = await replies(slack, 1)
    await bot.react(reply.ts)
    await settle()

    exported = await export_lines(bot, slack)
    assert exported == [
        {
            "messages": [
                {"role": "system", "content": bot.settings.system_prompt},
                {"role": "user", "content": "tell me a joke"},
                {"role": "assistant", "content": "Reply 1", "weight": 1},
            ]
        }
    ]


async def test_earlier_replies_train_only_when_approved_themselves(bot, slack):
    first = await bot.mention("one")
    [reply1] = await replies(slack, 1)
    await bot.mention("two", thread_ts=first)
    reply2 = (await replies(slack, 2))[1]
    await bot.react(reply2.ts)
    await settle()
    [line] = await export_lines(bot, slack)
    assert [m.get("weight") for m in line["messages"]] == [None, None, 0, None, 1]

    await bot.react(reply1.ts, user="UBOB")
    await settle()
    lines = await export_lines(bot, slack, response="r2")
    two_turns = next(line for line in lines if len(line["messages"]) == 5)
    assert two_turns["messages"][2]["weight"] == 1


async def test_votes_from_several_people_count_once_each_and_removal_takes_them_back(bot, slack):
    await bot.mention("a question")
    [reply] = await replies(slack, 1)
    ts = reply.ts
    await bot.react(ts, user="UALICE")
    await bot.react(ts, user="UBOB")
    await bot.react(ts, user="UBOB", reaction="white_check_mark")
    await settle()
    assert (await status_text(bot, slack, "s1")).startswith("*Dataset:* 1 example,")
    example_id = next(iter(await bot.services.examples.all_ids()))
    assert await bot.services.examples.voter_count(example_id) == 2

    await bot.react(ts, user="UALICE", removed=True)
    await settle()
    assert await bot.services.examples.voter_count(example_id) == 1
    await bot.react(ts, user="UBOB", removed=True)
    await bot.react(ts, user="UBOB", reaction="white_check_mark", removed=True)
    await settle()
    assert (await status_text(bot, slack, "s2")).startswith("*Dataset:* 0 examples,")


async def test_a_retried_reaction_changes_nothing(bot, slack):
    await bot.mention("q")
    [reply] = await replies(slack, 1)
    ts = reply.ts
    # A retry is the same delivery again, its event time included; the vote's own clock (not
    # the event id) keeps it from undoing the later removal.
    await bot.react(ts, event_id="EvR", event_ts="1800000000.000001")
    await bot.react(ts, removed=True, event_id="EvR2", event_ts="1800000000.000002")
    await bot.react(ts, event_id="EvR", event_ts="1800000000.000001", retry_num=1)
    await settle()
    assert (await bot.services.examples.stats()).examples == 0


async def test_reactions_that_are_not_curation_votes_are_ignored(bot, slack):
    await bot.mention("q")
    [reply] = await replies(slack, 1)
    ts = reply.ts
    await bot.react(ts, reaction="tada")
    await bot.react(ts, item_user="UALICE")
    await bot.react("1700000000.999999")  # a message the bot never recorded
    await settle()
    assert (await bot.services.examples.stats()).examples == 0
    assert slack.calls_to("chat.postEphemeral") == []


async def test_identical_conversations_are_stored_once(bot, slack, openai_fake):
    openai_fake.reply = "Same answer"
    await bot.mention("same question")
    await bot.mention("same question")
    posted = await replies(slack, 2)
    for reply in posted:
        await bot.react(reply.ts)
    await settle()
    assert (await bot.services.examples.stats()).examples == 1


async def test_status_shows_the_dataset_and_the_model(bot, slack):
    response = await bot.command("status", slack.response_url("st"))
    assert response.status == 200
    call = await slack.wait_for("response_url")
    text = json.dumps(call.params["blocks"])
    assert "0 examples" in text
    assert bot.settings.chat_model in text
    assert "/finetune export" in text


async def test_an_unknown_subcommand_gets_the_usage(bot, slack):
    await bot.command('launch "now', slack.response_url("bad"))
    call = await slack.wait_for("response_url")
    assert "quote" in call.params["text"]
    assert "/finetune status" in call.params["text"]


async def test_export_of_an_empty_dataset_says_how_to_add_examples(bot, slack):
    await bot.command("export", slack.response_url("ex"), user="UADMIN")
    call = await slack.wait_for("response_url")
    assert "empty" in call.params["text"]
    assert slack.uploads == []


async def test_export_sends_the_file_in_a_direct_message(bot, slack):
    await bot.mention("q")
    [reply] = await replies(slack, 1)
    await bot.react(reply.ts)
    await settle()
    await bot.command("export", slack.response_url("ex"), user="UADMIN")
    await slack.wait_for("response_url")
    [upload] = slack.uploads
    assert upload.channel_id == "DUADMIN"
    assert upload.filename.endswith(".jsonl")


async def test_a_forged_request_is_rejected(bot, slack):
    body = json.dumps({"type": "event_callback", "event": {"type": "app_mention"}})
    response = await bot.post_signed(body, "application/json", secret="not-the-secret")
    assert response.status == 401
    await settle()
    assert slack.messages == {}


async def test_url_verification_echoes_the_challenge(bot):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
    async with bot.session.post(
        f"{bot.url}/slack/events",
        data=body,
        headers={**signed_headers(body), "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        assert "abc123" in await response.text()


async def test_health_check_is_ready_with_redis(bot):
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 200


async def test_without_redis_chat_answers_and_a_vote_says_it_was_not_saved(
    start_bot, slack, openai_fake
):
    bot = await start_bot(redis_url="redis://127.0.0.1:1/0")
    await bot.mention("are you there?")
    [reply] = await replies(slack, 1, timeout=15)
    assert reply.text == "Reply 1"
    await bot.react(reply.ts)
    notice = await slack.wait_for("chat.postEphemeral", timeout=15)
    assert "couldn't save" in notice.params["text"]
    async with bot.session.get(f"{bot.url}/healthz") as response:
        assert response.status == 503


# helpers ----------------------------------------------------------------------------------


def signed_headers(body: str) -> dict:
    import time

    from slack_sdk.signature import SignatureVerifier

    from tests.e2e.harness import SIGNING_SECRET

    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}


async def export_lines(bot, slack, response: str = "r1") -> list[dict]:
    before = len(slack.uploads)
    await bot.command("export", slack.response_url(response), user="UADMIN")
    for _ in range(250):
        if len(slack.uploads) > before:
            break
        await asyncio.sleep(0.02)
    content = slack.uploads[-1].content.decode()
    return [json.loads(line) for line in content.splitlines()]


async def status_text(bot, slack, name: str) -> str:
    await bot.command("status", slack.response_url(name))
    call = await slack.wait_for("response_url", lambda c: c.params.get("_name") == name)
    return call.params["blocks"][0]["text"]["text"]


async def test_only_admins_export_unless_export_access_is_everyone(start_bot, slack):
    bot = await start_bot()
    await bot.mention("a question in a DM-like place")
    [reply] = await replies(slack, 1)
    await bot.react(reply.ts)
    await settle()
    await bot.command("export", slack.response_url("refused"), user="UCAROL")
    call = await slack.wait_for("response_url", lambda c: c.params["_name"] == "refused")
    assert "Only fine-tune admins can export the dataset" in call.params["text"]
    assert slack.uploads == []

    open_bot = await start_bot(export_access="everyone")
    await open_bot.command("export", slack.response_url("open"), user="UCAROL")
    await slack.wait_for("response_url", lambda c: c.params["_name"] == "open")
    [upload] = slack.uploads
    assert upload.channel_id == "DUCAROL"
