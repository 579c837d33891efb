"""Slack as a 2026 AI app, through signed requests into the real app and the Slack stand-in:
a thinking status, replies streamed in and ended by feedback buttons, 👍/👎 clicks that curate,
agent view prompts, and the App Home."""

from __future__ import annotations

import json

from bot.conversation.chat import MODEL_ERROR_APOLOGY
from handlers.slack.blocks import FEEDBACK_ACTION
from handlers.slack.replies import THINKING
from storage.schemas import Example
from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_core_loop import replies, settle, status_text
from tests.e2e.test_curation import trained
from tests.e2e.test_finetune import ADMIN, eventually, seed_examples

LONG_ANSWER = "Arr, " + "the sea is wide and the wind is kind, " * 6 + "matey!"


def feedback_buttons(message) -> dict | None:
    for block in message.blocks or []:
        if block["type"] == "context_actions":
            return block["elements"][0]
    return None


async def streamed_reply(bot, slack, openai_fake, text: str = "tell me of the sea"):
    """Mention the bot with the model streaming in small pieces; the finished reply."""
    openai_fake.reply = LONG_ANSWER
    openai_fake.stream_piece_chars = 12
    openai_fake.stream_piece_delay = 0.03
    asked = await bot.mention(text)
    [reply] = await replies(slack, 1)
    await eventually(lambda: bot.services.turns.get(slack_message(CHANNEL, reply.ts)))
    return asked, reply


async def test_a_reply_streams_into_the_thread_after_a_thinking_status(bot, slack, openai_fake):
    asked, reply = await streamed_reply(bot, slack, openai_fake)

    assert slack.status_history(CHANNEL, asked)[0] == THINKING
    [start] = slack.calls_to("chat.startStream")
    assert start.params["thread_ts"] == asked
    # In a channel Slack needs to know whom the stream is for.
    assert start.params["recipient_user_id"] == "UALICE"
    assert start.params["recipient_team_id"] == "T1"
    # The status was set before the first text arrived.
    status_at = slack.calls.index(slack.calls_to("assistant.threads.setStatus")[0])
    assert status_at < slack.calls.index(start)
    # The first words showed long before the answer was whole, and it grew from there.
    first = "".join(chunk["text"] for chunk in start.params["chunks"])
    assert LONG_ANSWER.startswith(first) and len(first) < len(LONG_ANSWER) / 4
    assert slack.calls_to("chat.appendStream"), "the answer grew in steps"
    [stop] = slack.calls_to("chat.stopStream")
    assert reply.text == LONG_ANSWER and reply.thread_ts == asked
    assert feedback_buttons(reply)["action_id"] == FEEDBACK_ACTION
    assert stop.params["blocks"] == reply.blocks
    # The recorded turn is the whole answer, named by the streamed message (recorded just after
    # the stream stops: settled, the answer is done).
    await settle()
    turn = await bot.services.turns.get(slack_message(CHANNEL, reply.ts))
    assert turn.reply == LONG_ANSWER


async def test_a_model_failure_mid_stream_ends_the_message_with_an_apology(bot, slack, openai_fake):
    openai_fake.reply = LONG_ANSWER
    openai_fake.stream_piece_chars = 12
    openai_fake.stream_piece_delay = 0.03
    openai_fake.break_stream, openai_fake.break_stream_after = "error", 4
    await bot.mention("tell me of the sea")

    [reply] = await replies(slack, 1, timeout=10)
    assert reply.text.startswith("Arr, the sea")
    assert reply.text.endswith(f"_{MODEL_ERROR_APOLOGY}_")
    assert feedback_buttons(reply) is None  # nothing to judge
    assert await bot.services.turns.get(slack_message(CHANNEL, reply.ts)) is None


async def test_a_stream_slack_stops_taking_is_finished_in_one_update(bot, slack, openai_fake):
    openai_fake.reply = LONG_ANSWER
    openai_fake.stream_piece_chars = 12
    openai_fake.stream_piece_delay = 0.05
    # Slack expired the stream: appends and the stop are refused, whenever they come.
    slack.fail_next("chat.appendStream", "message_not_in_streaming_state", times=50)
    slack.fail_next("chat.stopStream", "message_not_in_streaming_state")
    await bot.mention("tell me of the sea")

    update = await slack.wait_for("chat.update", timeout=10)
    assert update.params["text"] == LONG_ANSWER
    assert update.params["blocks"][-1]["type"] == "context_actions"
    turn = await eventually(
        lambda: bot.services.turns.get(slack_message(CHANNEL, update.params["ts"]))
    )
    assert turn.reply == LONG_ANSWER


async def test_thumbs_up_votes_and_a_second_click_takes_it_back(bot, slack, openai_fake):
    asked, reply = await streamed_reply(bot, slack, openai_fake)

    await bot.click_feedback(reply.ts, "good", thread_ts=asked)
    await eventually(lambda: trained(bot))
    assert await trained(bot) == ["tell me of the sea"]
    [told] = slack.calls_to("chat.postEphemeral")
    assert told.params["user"] == "UALICE" and "counts as a vote" in told.params["text"]
    assert told.params["thread_ts"] == asked

    await bot.click_feedback(reply.ts, "good", thread_ts=asked)
    await eventually(lambda: _no_examples(bot))
    await bot.click_feedback(reply.ts, "good", thread_ts=asked)
    await eventually(lambda: trained(bot))
    assert len(slack.calls_to("chat.postEphemeral")) == 1, "told only the first time"


async def test_a_reaction_and_a_click_by_one_person_are_one_vote(start_bot, slack, openai_fake):
    bot = await start_bot(min_votes=2)
    asked, reply = await streamed_reply(bot, slack, openai_fake)
    await bot.react(reply.ts)
    await bot.click_feedback(reply.ts, "good", thread_ts=asked)
    await settle()
    assert await trained(bot) == [], "one person, one vote: the quorum of two is not met"
    await bot.click_feedback(reply.ts, "good", thread_ts=asked, user="UBOB")
    await eventually(lambda: trained(bot))


async def test_a_repeated_delivery_of_a_click_changes_nothing(bot, slack, openai_fake):
    asked, reply = await streamed_reply(bot, slack, openai_fake)
    await bot.click_feedback(reply.ts, "good", thread_ts=asked, action_ts="1800000000.000100")
    await bot.click_feedback(reply.ts, "good", thread_ts=asked, action_ts="1800000000.000100")
    await settle()
    assert await trained(bot) == ["tell me of the sea"]


async def test_thumbs_down_vetoes_replacing_the_vote_and_keeps_the_reason(bot, slack, openai_fake):
    asked, reply = await streamed_reply(bot, slack, openai_fake)
    await bot.click_feedback(reply.ts, "good", thread_ts=asked, user="UBOB")
    await bot.click_feedback(reply.ts, "good", thread_ts=asked)
    await eventually(lambda: trained(bot))

    trigger = await bot.click_feedback(reply.ts, "bad", thread_ts=asked)
    opened = await slack.wait_for("views.open", lambda c: c.params["trigger_id"] == trigger)
    assert await trained(bot) == [], "one veto keeps it out, whatever the votes"
    answer = await bot.submit_view(
        opened.params["view"], {"reason": ("text", "It made up a harbour that doesn't exist.")}
    )
    assert answer is None  # the box closes

    turn = await bot.services.turns.get(slack_message(CHANNEL, reply.ts))
    [veto] = await bot.services.vetoes.of(Example.from_turn(turn).id)
    assert veto.user == "UALICE" and veto.reason == "It made up a harbour that doesn't exist."
    assert "1 vetoed" in await status_text(bot, slack, "st")

    # 👎 again clears Alice's judgement: Bob's vote stands alone and trains.
    await bot.click_feedback(reply.ts, "bad", thread_ts=asked)
    await eventually(lambda: trained(bot))


async def test_a_new_dm_thread_offers_the_suggested_prompts(start_bot, slack):
    bot = await start_bot(suggested_prompts="What can you do?|Write a haiku about the sea")
    await bot.send_event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {"user_id": "UALICE", "channel_id": "DALICE", "thread_ts": "1.2"},
            "event_ts": bot.next_ts(),
        }
    )
    call = await slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert "thread_ts" not in call.params  # agent apps ignore the call when it names one
    prompts = slack.suggested_prompts["DALICE"]["prompts"]
    assert [p["message"] for p in prompts] == ["What can you do?", "Write a haiku about the sea"]


async def test_the_home_shows_the_dataset_and_buttons_only_for_admins(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    await bot.open_home(ADMIN)
    await bot.open_home("UALICE")
    await eventually(lambda: len(slack.home_views) == 2)

    admin_home = json.dumps(slack.home_views[ADMIN])
    assert "10 examples" in admin_home and "Est. cost" in admin_home
    assert "home_start" in admin_home
    alice_home = json.dumps(slack.home_views["UALICE"])
    assert "10 examples" in alice_home
    assert "home_start" not in alice_home and "for fine-tune admins" in alice_home


async def test_an_admin_starts_a_job_from_the_home(start_bot, slack, openai_fake):
    bot = await start_bot(job_poll_seconds=0.1)
    await seed_examples(bot, slack, 10)
    trigger = await bot.press_home_button("home_start", user=ADMIN)
    opened = await slack.wait_for("views.open", lambda c: c.params["trigger_id"] == trigger)
    assert "Checking" in json.dumps(opened.params["view"])
    filled = await slack.wait_for("views.update")
    form = filled.params["view"]
    assert "Est. cost" in json.dumps(form) and form["submit"]["text"] == "Start"

    answer = await bot.submit_view(
        form, {"suffix": ("value", "from-home")}, user=ADMIN, selected={"method": "supervised"}
    )
    assert answer is None
    await eventually(lambda: openai_fake.job_requests)
    assert openai_fake.job_requests[0]["suffix"] == "from-home"
    await eventually(lambda: "Started fine-tuning job" in json.dumps(slack.home_views.get(ADMIN)))
    # The job reports in the admin's DM with the bot.
    status = [c for c in slack.calls_to("chat.postMessage") if c.params.get("blocks")]
    assert status and status[0].params["channel"] == f"D{ADMIN}"


async def test_a_bad_option_in_the_start_form_is_shown_at_its_field(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    await bot.press_home_button("home_start", user=ADMIN)
    form = (await slack.wait_for("views.update")).params["view"]
    answer = await bot.submit_view(form, {"epochs": ("value", "lots")}, user=ADMIN)
    assert answer["response_action"] == "errors" and "epochs" in answer["errors"]
    assert openai_fake.job_requests == []


async def test_a_forged_admin_button_from_a_non_admin_is_refused(bot, slack, openai_fake):
    await seed_examples(bot, slack, 10)
    await bot.press_home_button("home_start", user="UALICE")
    await bot.press_home_button("home_rollback", user="UALICE")
    await eventually(lambda: "Only fine-tune admins" in json.dumps(slack.home_views.get("UALICE")))
    await settle()
    assert slack.calls_to("views.open") == []
    assert openai_fake.files == {} and openai_fake.job_requests == []


async def _no_examples(bot) -> bool:
    return await trained(bot) == []
