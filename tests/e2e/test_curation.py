"""Curation a team can trust, through signed Slack requests: vetoes, quorum, deletions,
forget-me and include-me, the channel allow-list."""

from __future__ import annotations

import asyncio
import json
import time

from tests.e2e.harness import CHANNEL, SlackSender, slack_message
from tests.e2e.test_core_loop import bot_replies, replies, settle, status_text
from tests.e2e.test_finetune import command, eventually


async def answered(bot, slack, text: str, *, user: str = "UALICE", thread_ts: str | None = None):
    """Mention the bot; return (the person's ts, the bot reply's ts)."""
    before = len(bot_replies(slack))
    asked = await bot.mention(text, user=user, thread_ts=thread_ts)
    reply = (await replies(slack, before + 1))[before].ts
    # The turn is recorded just after the reply is finished.
    for _ in range(250):
        if await bot.services.turns.get(slack_message(CHANNEL, reply)):
            break
        await asyncio.sleep(0.02)
    return asked, reply


async def trained(bot) -> list[str]:
    """The user messages that end each exported example."""
    content, _ = await bot.services.dataset.export_bytes()
    lines = [json.loads(line) for line in content.decode().splitlines()]
    return [line["messages"][-2]["content"] for line in lines]


async def test_a_veto_keeps_a_reply_out_whatever_its_votes_and_lifting_it_lets_it_back(bot, slack):
    _, reply = await answered(bot, slack, "what is our deploy day?")
    await bot.react(reply, user="UALICE")
    await bot.react(reply, user="UCAROL")
    await settle()
    assert await trained(bot) == ["what is our deploy day?"]

    await bot.react(reply, user="UBOB", reaction="-1")
    await settle()
    assert await trained(bot) == []
    status = await status_text(bot, slack, "vetoed")
    assert status.startswith("*Dataset:* 0 examples,") and "1 vetoed" in status
    [example_id] = await bot.services.examples.all_ids()
    [veto] = await bot.services.vetoes.of(example_id)
    assert veto.user == "UBOB" and veto.ref == f"{CHANNEL}|{reply}" and veto.at

    await bot.react(reply, user="UBOB", reaction="-1", removed=True)
    await settle()
    assert await trained(bot) == ["what is our deploy day?"]


async def test_a_vetoed_earlier_reply_is_not_trained_as_history(bot, slack):
    asked, first = await answered(bot, slack, "first question")
    _, second = await answered(bot, slack, "second question", thread_ts=asked)
    await bot.react(first)
    await bot.react(second)
    await bot.react(first, user="UBOB", reaction="-1")
    await settle()
    content, count = await bot.services.dataset.export_bytes()
    assert count == 1  # the vetoed first reply is not exported on its own...
    [line] = content.decode().splitlines()
    assert '"weight":0' in line  # ...nor trained as history in the second


async def test_with_a_quorum_of_two_one_vote_waits_and_two_train(start_bot, slack):
    bot = await start_bot(min_votes=2)
    _, reply = await answered(bot, slack, "one vote is not enough")
    await bot.react(reply, user="UALICE")
    await settle()
    assert await trained(bot) == []
    assert "1 waiting for votes (2 needed)" in await status_text(bot, slack, "one")

    await bot.react(reply, user="UBOB")
    await settle()
    assert await trained(bot) == ["one vote is not enough"]
    assert (await status_text(bot, slack, "two")).startswith("*Dataset:* 1 example,")


async def everything_stored(redis) -> str:
    """Every value in Redis, as text, to search for what must be gone."""
    values = []
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        if kind == "string":
            values.append(await redis.get(key))
        elif kind == "hash":
            values.append(str(await redis.hgetall(key)))
        elif kind == "set":
            values.append(str(await redis.smembers(key)))
        elif kind == "zset":
            values.append(str(await redis.zrange(key, 0, -1)))
    return "\n".join(values)


async def deleted(bot, channel: str, ts: str) -> None:
    await bot.send_event(
        {
            "type": "message",
            "subtype": "message_deleted",
            "hidden": True,
            "channel": channel,
            "ts": f"{time.time():.6f}",
            "deleted_ts": ts,
            "event_ts": f"{time.time():.6f}",
            "previous_message": {"type": "message", "ts": ts, "text": "gone"},
        }
    )


async def test_deleting_the_bot_reply_removes_its_example(bot, slack):
    _, reply = await answered(bot, slack, "delete my answer")
    await bot.react(reply)
    await settle()
    assert await trained(bot) == ["delete my answer"]
    await deleted(bot, CHANNEL, reply)
    await settle()
    assert await trained(bot) == []
    assert await bot.services.turns.get(slack_message(CHANNEL, reply)) is None


async def test_deleting_a_thread_parent_reported_as_a_tombstone_removes_the_whole_thread(
    bot, slack, openai_fake
):
    asked, first = await answered(bot, slack, "my secret plan")
    _, second = await answered(bot, slack, "and the next step", thread_ts=asked)
    await bot.react(first)
    await bot.react(second)
    await settle()
    assert len(await trained(bot)) == 2

    # Slack keeps a deleted parent with replies as a tombstone, reported as message_changed.
    await bot.send_event(
        {
            "type": "message",
            "subtype": "message_changed",
            "hidden": True,
            "channel": CHANNEL,
            "ts": f"{time.time():.6f}",
            "event_ts": f"{time.time():.6f}",
            "message": {
                "type": "message",
                "subtype": "tombstone",
                "text": "This message was deleted.",
                "user": "USLACKBOT",
                "ts": asked,
                "thread_ts": asked,
                "reply_count": 2,
            },
            "previous_message": {"type": "message", "ts": asked, "text": "my secret plan"},
        }
    )
    await settle()
    assert await trained(bot) == []
    assert "my secret plan" not in await everything_stored(bot.services.redis)
    # The thread goes on without the deleted text.
    await answered(bot, slack, "what was my plan?", thread_ts=asked)
    sent = [m["content"] for m in openai_fake.chat_requests[-1]["messages"]]
    assert "my secret plan" not in sent


async def test_forget_me_removes_a_persons_data_and_include_me_lets_them_back(bot, slack):
    _, alices = await answered(bot, slack, "alice asks", user="UALICE")
    _, bobs = await answered(bot, slack, "bob asks", user="UBOB")
    await bot.react(alices, user="UCAROL")
    await bot.react(bobs, user="UCAROL")
    await settle()

    answer = await command(bot, slack, "forget-me", user="UALICE")
    assert "removed 1 example, 0 preference pairs and 1 recorded turn" in answer
    assert await trained(bot) == ["bob asks"]

    _, later = await answered(bot, slack, "alice again", user="UALICE")
    await bot.react(later, user="UCAROL")
    await settle()
    assert await trained(bot) == ["bob asks"], "her new turns do not become examples"

    assert "can become examples again" in await command(bot, slack, "include-me", user="UALICE")
    await bot.react(later, user="UDAVE")
    await settle()
    assert sorted(await trained(bot)) == ["alice again", "bob asks"]


async def test_reactions_outside_the_curated_channels_do_nothing(start_bot, slack):
    bot = await start_bot(curate_channels="C2")
    _, reply = await answered(bot, slack, "in C1")
    await bot.react(reply)
    await settle()
    assert await trained(bot) == []


# ----- corrections and preference pairs ------------------------------------------------------


async def open_correction(bot, slack, reply: str, *, user: str = "UALICE") -> dict:
    """Run "Improve this reply" on `reply`; return the modal Slack was asked to open."""
    before = len(slack.calls_to("views.open"))
    trigger = await bot.message_shortcut("improve_reply", reply, slack.response_url(), user=user)
    call = await slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    assert len(slack.calls_to("views.open")) == before + 1
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def draft_of(view: dict) -> str:
    [field] = [block for block in view["blocks"] if block.get("block_id") == "corrected"]
    return field["element"]["initial_value"]


async def correct(bot, view: dict, text: str, *, user: str = "UALICE"):
    return await bot.submit_view(view, {"corrected": ("text", text)}, user=user)


def check_preference_line(line: dict) -> None:
    """OpenAI's preference fine-tuning format, as its reference describes it."""
    assert set(line) <= {"input", "preferred_output", "non_preferred_output"}
    assert isinstance(line["input"], dict) and set(line["input"]) <= {
        "messages",
        "tools",
        "parallel_tool_calls",
    }
    messages = line["input"]["messages"]
    assert messages and all(m["role"] in {"system", "user", "assistant"} for m in messages)
    assert all(isinstance(m["content"], str) for m in messages)
    for key in ("preferred_output", "non_preferred_output"):
        [answer] = line[key]
        assert answer["role"] == "assistant" and isinstance(answer["content"], str)
        assert answer["content"].strip()


async def test_improving_a_reply_stores_a_corrected_example_and_a_preference_pair(
    bot, slack, openai_fake
):
    openai_fake.reply = "Deploys happen whenever."
    _, reply = await answered(bot, slack, "when do we deploy?")
    view = await open_correction(bot, slack, reply)
    assert draft_of(view) == "Deploys happen whenever."

    assert await correct(bot, view, "We deploy on Tuesdays after standup.") is None  # closed
    content, count = await bot.services.dataset.export_bytes()
    [line] = [json.loads(text) for text in content.decode().splitlines()]
    assert line["messages"][-1]["content"] == "We deploy on Tuesdays after standup."
    assert line["messages"][-2]["content"] == "when do we deploy?"
    confirmation = await slack.wait_for("chat.postEphemeral")
    assert (
        confirmation.params["user"] == "UALICE"
        and "correction is saved" in confirmation.params["text"]
    )

    pairs, count = await bot.services.dataset.export_bytes("dpo")
    [pair] = [json.loads(text) for text in pairs.decode().splitlines()]
    check_preference_line(pair)
    assert pair["preferred_output"][0]["content"] == "We deploy on Tuesdays after standup."
    assert pair["non_preferred_output"][0]["content"] == "Deploys happen whenever."
    assert pair["input"]["messages"][-1] == {"role": "user", "content": "when do we deploy?"}

    # A correction of the correction starts from it and replaces it.
    again = await open_correction(bot, slack, reply, user="UBOB")
    assert draft_of(again) == "We deploy on Tuesdays after standup."
    await correct(bot, again, "We deploy on Tuesdays at 10:00.", user="UBOB")
    content, count = await bot.services.dataset.export_bytes()
    assert count == 1 and "Tuesdays at 10:00" in content.decode()
    pairs, count = await bot.services.dataset.export_bytes("dpo")
    assert count == 1 and "Tuesdays at 10:00" in pairs.decode()


async def test_a_blank_or_too_long_correction_gets_an_inline_error_and_saves_nothing(
    start_bot, slack, tmp_path
):
    table = tmp_path / "models.json"
    table.write_text(
        json.dumps([{"name": "gpt-4.1-mini-2025-04-14", "max_tokens_per_example": 60}])
    )
    bot = await start_bot(model_table_file=table)
    _, reply = await answered(bot, slack, "short question")
    view = await open_correction(bot, slack, reply)

    blank = await correct(bot, view, "   \n ")
    assert blank["response_action"] == "errors" and "blank" in blank["errors"]["corrected"]
    long = await correct(bot, view, "word " * 200)
    assert long["response_action"] == "errors" and "tokens" in long["errors"]["corrected"]
    assert await bot.services.dataset.export_bytes() == (b"", 0)
    assert await bot.services.dataset.export_bytes("dpo") == (b"", 0)


async def test_improve_on_a_persons_message_is_refused(bot, slack):
    asked, _ = await answered(bot, slack, "a question")
    await bot.message_shortcut("improve_reply", asked, slack.response_url("mine"), author="UALICE")
    call = await slack.wait_for("response_url", lambda c: c.params.get("_name") == "mine")
    assert "works on my replies" in call.params["text"]
    assert slack.calls_to("views.open") == []


async def seed_pairs(bot, slack, count: int) -> None:
    for n in range(count):
        _, reply = await answered(bot, slack, f"question {n}")
        view = await open_correction(bot, slack, reply)
        await correct(bot, view, f"A better answer number {n}.")


async def test_export_dpo_and_a_preference_job(start_bot, slack, openai_fake):
    bot = await start_bot()
    await seed_pairs(bot, slack, 10)
    answer = await command(bot, slack, "export dpo")
    assert "10 preference pairs" in answer
    upload = slack.uploads[-1]
    assert upload.filename.startswith("preferences-")
    for text in upload.content.decode().splitlines():
        check_preference_line(json.loads(text))

    answer = await command(bot, slack, "start method=dpo beta=0.2")
    assert "Started fine-tuning job" in answer
    [request] = openai_fake.job_requests
    assert request["method"]["type"] == "dpo"
    assert request["method"]["dpo"]["hyperparameters"]["beta"] == 0.2
    uploaded = openai_fake.files[request["training_file"]].content.decode().splitlines()
    assert len(uploaded) == 10
    for text in uploaded:
        check_preference_line(json.loads(text))


async def test_a_preference_job_needs_ten_pairs_and_a_backend_that_trains_them(
    start_bot, slack, openai_fake, tmp_path
):
    bot = await start_bot()
    await seed_pairs(bot, slack, 3)
    assert "3 usable preference pairs" in await command(bot, slack, "start method=dpo")
    local = await start_bot(
        train_backend="local",
        local_models_dir=tmp_path / "models",
        finetune_base_model="tiny-llama",
        redis_prefix="other",
    )
    await seed_pairs(local, slack, 1)
    answer = await command(local, slack, "start method=dpo")
    assert "examples only" in answer and "Nothing was started" in answer
    assert openai_fake.job_requests == []


# ----- redaction -----------------------------------------------------------------------------

CARD = "4111 1111 1111 1111"  # Visa's test number: passes Luhn
KEY = "sk-" + "proj-" + "Zx8Qw3Er5Ty7Ui9Op1As2Df4Gh6Jk8Lz"  # built in pieces: no scanner flags it


async def test_what_must_not_train_is_redacted_before_it_is_stored_and_the_rest_kept(
    bot, slack, openai_fake
):
    openai_fake.reply = "Got it, I will email ada.lovelace@example.com today."
    said = (
        f"Hi! Mail ada.lovelace@example.com or call +44 20 7946 0958, card {CARD}, "
        f"key {KEY}, ask <@U0ALICE2> about release v2.3.1 on 2026-12-01 (order #123456)."
    )
    asked, reply = await answered(bot, slack, said)
    # The model answered the message as typed.
    assert openai_fake.chat_requests[-1]["messages"][-1]["content"] == said

    await bot.react(reply, user="UBOB")
    await settle()
    [line] = [
        json.loads(text)
        for text in (await bot.services.dataset.export_bytes())[0].decode().splitlines()
    ]
    stored_question, stored_answer = (
        line["messages"][-2]["content"],
        line["messages"][-1]["content"],
    )
    assert stored_question == (
        "Hi! Mail [email] or call [phone], card [card], key [secret], ask @user1 about release "
        "v2.3.1 on 2026-12-01 (order #123456)."
    )
    assert stored_answer == "Got it, I will email [email] today."
    everything = await everything_stored(bot.services.redis)
    for secret in ("ada.lovelace@example.com", "7946 0958", CARD, KEY):
        assert secret not in everything, secret
    # Who was mentioned stays with the conversation (to keep @user1 stable), never in the export.
    assert "U0ALICE2" not in (await bot.services.dataset.export_bytes())[0].decode()
    assert "6 redactions made before storing" in await status_text(bot, slack, "redactions")

    # The same person keeps their placeholder in the thread's later turns.
    await answered(bot, slack, "and <@U0ALICE2> again, with <@U0BOB3>", thread_ts=asked)
    sent = openai_fake.chat_requests[-1]["messages"]
    assert "ask @user1 about release" in sent[1]["content"]  # history reaches the model redacted
    latest = await bot.services.turns.latest_in_thread(slack_message(CHANNEL, asked))
    assert latest.messages[-1]["content"] == "and @user1 again, with @user2"


# The same Visa test number, in fullwidth digits.
FULLWIDTH_CARD = "４１１１ １１１１ １１１１ １１１１"
HIDDEN_EMAIL = "ada\u200b.love\u00adlace@example.com"  # a zero-width space and a soft hyphen inside


async def test_a_card_in_fullwidth_digits_and_an_address_with_invisible_characters_are_redacted(
    bot, slack
):
    said = f"my card is {FULLWIDTH_CARD}\u200b, mail {HIDDEN_EMAIL} 👨\u200d👩\u200d👧 thanks"
    # Only the matches change: the zero-width space after the card and the family emoji's
    # joiners are kept as typed.
    redacted = "my card is [card]\u200b, mail [email] 👨\u200d👩\u200d👧 thanks"
    _, reply = await answered(bot, slack, said)
    turn = await bot.services.turns.get(slack_message(CHANNEL, reply))
    assert turn.messages[-1]["content"] == redacted

    await bot.react(reply, user="UBOB")
    await settle()
    assert await trained(bot) == [redacted]
    everything = await everything_stored(bot.services.redis)
    for leaked in (FULLWIDTH_CARD, "１１１１", HIDDEN_EMAIL, "lace@example.com"):
        assert leaked not in everything, leaked
        assert json.dumps(leaked)[1:-1] not in everything, leaked  # as stored JSON escapes it


async def test_with_redaction_off_the_text_is_stored_as_typed(start_bot, slack):
    bot = await start_bot(redact_pii=False)
    _, reply = await answered(bot, slack, "mail ada@example.com")
    await bot.react(reply)
    await settle()
    assert await trained(bot) == ["mail ada@example.com"]


async def test_a_vote_while_the_reply_still_streams_counts(bot, slack, openai_fake):
    openai_fake.reply = "Arr, the tide turns slowly. " * 8
    openai_fake.stream_piece_delay = 0.05  # about 1.5 s of streaming
    await bot.mention("tell it slowly")
    streaming = await eventually(
        lambda: [m for m in slack.messages.values() if m.thread_ts and m.streaming]
    )
    # Straight from Slack, without waiting for the turn: the person reacts mid-stream.
    assert (await SlackSender.react(bot, streaming[0].ts, user="UBOB")).status == 200
    assert (await bot.services.examples.stats()).examples == 0  # the turn is not there yet
    await replies(slack, 1)
    stats = await eventually(lambda: _with_examples(bot, 1), timeout=5)
    assert stats.examples == 1


async def _with_examples(bot, count: int):
    stats = await bot.services.examples.stats()
    return stats if stats.examples == count else None


async def test_a_vote_held_while_the_reply_streams_goes_if_its_author_says_forget_me(
    bot, slack, openai_fake
):
    openai_fake.reply = "Arr, the tide turns slowly. " * 8
    openai_fake.stream_piece_delay = 0.05
    await bot.mention("tell it slowly")
    streaming = await eventually(
        lambda: [m for m in slack.messages.values() if m.thread_ts and m.streaming]
    )
    await SlackSender.react(bot, streaming[0].ts, user="UBOB")
    assert "Done: I removed" in await command(bot, slack, "forget-me", user="UBOB")
    await replies(slack, 1)
    await settle()
    assert (await bot.services.examples.stats()).examples == 0
