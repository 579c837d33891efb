"""What the bot writes to Slack can't ping anyone or disguise a link: model replies, echoed
prompts and model names, and providers' errors go out with `&`, `<` and `>` escaped, in every
message, update, ephemeral answer, modal and Home, while the bot's own mentions still work."""

from __future__ import annotations

import json

from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_compare import (
    comparison_of,
    gated_job,
    pair_messages,
    promote_message,
    said,
    two_pairs,
)
from tests.e2e.test_core_loop import replies
from tests.e2e.test_curation import draft_of, open_correction
from tests.e2e.test_finetune import ADMIN, FAST, command, eventually, seed_examples

HOSTILE = (
    "<!channel> <!here> <!subteam^S123> hi <@U999> "
    "<https://evil.example|https://slack.com/signin> & co"
)
ESCAPED = (
    "&lt;!channel&gt; &lt;!here&gt; &lt;!subteam^S123&gt; hi &lt;@U999&gt; "
    "&lt;https://evil.example|https://slack.com/signin&gt; &amp; co"
)
# What Slack would act on: a broadcast, a group or a person pinged, a link shown as another.
LEAKS = ("<!channel>", "<!here>", "<!subteam", "<@U999>", "<https://evil")
# Escaped twice, Slack would show the entities themselves.
TWICE = ("&amp;amp;", "&amp;lt;", "&amp;gt;")
SURFACES = (
    "chat.postMessage",
    "chat.update",
    "chat.postEphemeral",
    "chat.startStream",
    "chat.appendStream",
    "chat.stopStream",
    "views.open",
    "views.update",
    "views.publish",
    "files.completeUploadExternal",
    "response_url",
)


def everything_sent(slack) -> str:
    """Every message, update, stream, answer and view the bot sent to Slack, as one text."""
    sent = [call.params for call in slack.calls if call.method in SURFACES]
    return json.dumps([sent, slack.home_views], ensure_ascii=False)


def assert_nothing_leaks(slack) -> None:
    sent = everything_sent(slack)
    for leak in (*LEAKS, *TWICE):
        assert leak not in sent, f"{leak!r} went to Slack"


async def test_a_model_reply_cannot_ping_or_disguise_a_link(bot, slack, openai_fake):
    openai_fake.reply = HOSTILE
    openai_fake.stream_piece_chars = 7  # entities and mentions split across the appends
    await bot.mention("say something nasty")

    [reply] = await replies(slack, 1)
    assert reply.text == ESCAPED
    assert_nothing_leaks(slack)
    # What was recorded for training is what the model said, not Slack's escaping of it.
    turn = await eventually(lambda: bot.services.turns.get(slack_message(CHANNEL, reply.ts)))
    assert "&lt;" not in turn.reply and "&amp;" not in turn.reply


async def test_a_long_reply_escaped_still_fits_slacks_limit_per_call(bot, slack, openai_fake):
    openai_fake.reply = "<&>" * 6000  # 18,000 characters; 78,000 once escaped
    openai_fake.stream_piece_chars = 4000
    await bot.mention("say it many times")

    [reply] = await replies(slack, 1, timeout=10)
    assert reply.text == "&lt;&amp;&gt;" * 6000
    for method in ("chat.startStream", "chat.appendStream", "chat.stopStream"):
        for call in slack.calls_to(method):
            chunks = call.params.get("chunks") or []
            text = (call.params.get("markdown_text") or "") + "".join(c["text"] for c in chunks)
            assert len(text) <= 12_000, method


async def test_a_reply_finished_in_one_update_is_escaped_too(bot, slack, openai_fake):
    openai_fake.reply = HOSTILE
    slack.fail_next("chat.appendStream", "message_not_in_streaming_state", times=50)
    slack.fail_next("chat.stopStream", "message_not_in_streaming_state")
    await bot.mention("say something nasty")

    update = await slack.wait_for("chat.update", timeout=10)
    assert update.params["text"] == ESCAPED
    assert update.params["blocks"][0] == {"type": "markdown", "text": ESCAPED}
    assert_nothing_leaks(slack)


async def test_the_reply_to_improve_is_shown_as_written_in_its_text_box(bot, slack, openai_fake):
    # A plain-text input shows entities literally: the draft is not escaped.
    openai_fake.reply = "fish & chips <3"
    await bot.mention("dinner?")
    [reply] = await replies(slack, 1)
    assert reply.text == "fish &amp; chips &lt;3"

    view = await open_correction(bot, slack, reply.ts)
    assert draft_of(view) == "fish & chips <3"


async def test_a_compared_prompt_and_both_answers_are_escaped(bot, slack, openai_fake):
    openai_fake.reply = HOSTILE
    answer = await command(bot, slack, "compare model=gpt-4o-mini <!here> what's new? & <@U999>")
    assert "Both answers are posted" in answer

    [posted] = await eventually(lambda: pair_messages(slack))
    asked = posted.blocks[0]["text"]["text"]
    assert asked.startswith("*Which answer is better?*\n> &lt;!here&gt; what's new? &amp; "), asked
    shown = json.dumps(posted.blocks, ensure_ascii=False)
    assert shown.count(ESCAPED) == 2
    assert_nothing_leaks(slack)
    # The models were asked what the person typed.
    assert openai_fake.chat_requests[0]["messages"][-1]["content"].startswith("<!here>")


async def test_a_model_name_typed_in_a_command_is_echoed_escaped(bot, slack, openai_fake):
    answer = await command(bot, slack, "use <!channel>")
    assert "&lt;!channel&gt;" in answer
    await command(bot, slack, "compare model=<https://evil.example|x> hi")
    await command(bot, slack, "start model=<!here>")
    await command(bot, slack, "frobnicate <!subteam^S123>")
    assert_nothing_leaks(slack)


async def test_the_bots_own_mention_of_who_switched_models_still_pings(bot, slack, openai_fake):
    switched = await command(bot, slack, "use gpt-4o-mini")
    assert f"<@{ADMIN}> switched me to `gpt-4o-mini`" in switched
    rolled = await command(bot, slack, "rollback")
    assert f"<@{ADMIN}> rolled me back" in rolled


async def test_a_providers_job_error_and_events_are_escaped_everywhere(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.add_job_event(job_id, f"event: {HOSTILE}")
    openai_fake.set_job(job_id, "failed", error=f"Training failed: {HOSTILE}")

    def failure_announced() -> list[str]:
        return [
            call.params["text"]
            for call in slack.calls_to("chat.postMessage")
            if "failed" in call.params.get("text", "") and "Training failed" in call.params["text"]
        ]

    [announcement] = await eventually(failure_announced)
    assert ESCAPED in announcement
    status_message = await eventually(
        lambda: [
            call
            for call in slack.calls_to("chat.update")
            if "Training failed" in json.dumps(call.params.get("blocks"))
        ]
    )
    assert ESCAPED in json.dumps(status_message[-1].params["blocks"], ensure_ascii=False)

    status = await command(bot, slack, "status", user="UALICE")
    assert ESCAPED in status
    await bot.open_home("UALICE")
    home = await eventually(lambda: slack.home_views.get("UALICE"))
    assert ESCAPED in json.dumps(home, ensure_ascii=False)
    # The job's message still names who started it, as a mention.
    assert f"started by <@{ADMIN}>" in json.dumps(status_message[-1].params["blocks"])
    assert_nothing_leaks(slack)


async def test_a_gate_shows_answers_escaped_and_names_the_admin_who_promoted(
    start_bot, slack, openai_fake
):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1)
    openai_fake.reply = lambda body: HOSTILE
    _, status_ts = await gated_job(bot, slack, openai_fake)
    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    assert all(json.dumps(p.blocks, ensure_ascii=False).count(ESCAPED) == 2 for p in pairs)

    promote = await eventually(lambda: promote_message(slack, status_ts))
    await bot.press(
        promote.ts, "compare_promote", comparison_of(promote), user=ADMIN, thread_ts=status_ts
    )
    [announced] = await eventually(lambda: said(slack, " promoted `"))
    assert announced.startswith(f"<@{ADMIN}> promoted `")
    assert_nothing_leaks(slack)
