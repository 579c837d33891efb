"""Comparing models before everyone talks to them, through signed Slack requests: ad-hoc
comparisons, the swap gate (held out, promoted by an admin or the rule, rejected), manual,
a side failing, and a restart mid-comparison."""

from __future__ import annotations

import json

from bot.commands.service import ADMINS_ONLY
from storage.comparisons import OPEN, PROMOTED, REJECTED
from tests.e2e.harness import CHANNEL, RunningBot, make_settings
from tests.e2e.test_core_loop import replies, settle
from tests.e2e.test_finetune import ADMIN, command, eventually, seed_examples

TUNED = "ft:gpt-4.1-mini-2025-04-14:acme::tuned"


def answers_by_model(body: dict) -> str:
    return f"Answer from {body['model']}"


def pair_messages(slack, channel: str = CHANNEL, thread: str | None = None) -> list:
    return [
        m
        for m in slack.messages.values()
        if m.channel == channel
        and m.thread_ts == thread
        and any(b.get("block_id", "").startswith("compare-cmp") for b in m.blocks or [])
    ]


def shown(message) -> dict[str, str]:
    """The answer text under each label of a posted pair."""
    sections = [b["text"]["text"] for b in message.blocks if b["type"] == "section"]
    return {text[1]: text.split("\n", 1)[1] for text in sections if text[:3] in ("*A*", "*B*")}


def said(slack, words: str) -> list[str]:
    """The texts of the bot's posted messages that hold `words`."""
    return [
        c.params["text"]
        for c in slack.calls_to("chat.postMessage")
        if words in c.params.get("text", "")
    ]


def promote_message(slack, thread: str):
    found = [m for m in slack.thread(CHANNEL, thread) if "compare_promote" in json.dumps(m.blocks)]
    return found[0] if found else None


def comparison_of(promote) -> str:
    return promote.blocks[-1]["elements"][0]["value"]


def two_pairs(slack, thread: str) -> list:
    pairs = pair_messages(slack, thread=thread)
    return pairs if len(pairs) == 2 else []


def pair_id(message) -> str:
    [actions] = [b for b in message.blocks if b["type"] == "actions"]
    return actions["elements"][0]["value"]


async def test_compare_posts_two_labelled_answers_and_a_second_pick_replaces_the_first(
    bot, slack, openai_fake
):
    openai_fake.reply = answers_by_model
    answer = await command(
        bot,
        slack,
        f"compare model={TUNED} what's the tide today?",  # an admin: any model
    )
    assert "Both answers are posted" in answer
    [posted] = await eventually(lambda: pair_messages(slack))
    answers = shown(posted)
    assert sorted(answers.values()) == sorted(
        [f"Answer from {TUNED}", f"Answer from {bot.settings.chat_model}"]
    )
    assert "what's the tide today?" in json.dumps(posted.blocks)
    # Nobody votes on a name: the models are not shown (only inside this stand-in's answer).
    assert json.dumps(posted.blocks).count(TUNED) == 1

    tuned_label = next(label for label, text in answers.items() if TUNED in text)
    other_label = "B" if tuned_label == "A" else "A"
    pair = pair_id(posted)
    await bot.press(posted.ts, f"compare_pick_{other_label.lower()}", pair)
    await bot.press(posted.ts, f"compare_pick_{tuned_label.lower()}", pair)
    await eventually(lambda: len(slack.calls_to("chat.postEphemeral")) == 2)
    assert "is saved" in slack.calls_to("chat.postEphemeral")[-1].params["text"]

    models = await command(bot, slack, "models", user="UALICE")
    assert f"`{TUNED}` (not used): compared: 1 win, 0 losses, 0 ties" in models
    # The winning answer over the other is a preference pair for DPO.
    content, _ = await bot.services.dataset.export_bytes("dpo")
    [line] = [json.loads(text) for text in content.decode().splitlines()]
    assert line["preferred_output"][-1]["content"] == f"Answer from {TUNED}"
    assert line["input"]["messages"][-1]["content"] == "what's the tide today?"


async def test_one_side_failing_shows_its_error_and_the_other_answer(bot, slack, openai_fake):
    openai_fake.reply = answers_by_model
    openai_fake.missing_models.add(TUNED)
    await command(bot, slack, f"compare model={TUNED} hello")
    [posted] = await eventually(lambda: pair_messages(slack))
    assert f"Answer from {bot.settings.chat_model}" in shown(posted).values()
    assert "No answer: The model was not found." in json.dumps(posted.blocks)


async def gated_job(bot, slack, openai_fake, *, fresh: int = 2) -> tuple[str, str]:
    """A job trained on 10 examples, `fresh` more approved after it started, then succeeded;
    returns (job id, the status message ts)."""
    if not callable(openai_fake.reply):
        openai_fake.reply = answers_by_model
    await seed_examples(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    status = [c for c in slack.calls_to("chat.postMessage") if c.params.get("blocks")][-1]
    for i in range(fresh):
        await bot.mention(f"a fresh question {i}")
    fresh = await replies(slack, 10 + fresh)
    for message in fresh[10:]:
        await bot.react(message.ts)
    await settle()
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000, fine_tuned_model=TUNED)
    return job_id, status.response["ts"]


async def test_the_compare_gate_holds_the_swap_and_an_admin_promotes(start_bot, slack, openai_fake):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1)
    _, status_ts = await gated_job(bot, slack, openai_fake)

    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    asked = sorted(json.dumps(p.blocks) for p in pairs)
    assert "a fresh question 0" in asked[0] and "a fresh question 1" in asked[1]
    assert (await bot.services.models.active()) is None, "no swap before anyone has seen it"
    assert said(slack, "Before anyone talks to it")
    promote = await eventually(lambda: promote_message(slack, status_ts))
    comparison_id = comparison_of(promote)

    await bot.press(
        promote.ts, "compare_promote", comparison_id, user="UALICE", thread_ts=status_ts
    )
    await eventually(
        lambda: [c for c in slack.calls_to("chat.postEphemeral") if c.params["text"] == ADMINS_ONLY]
    )
    assert (await bot.services.models.active()) is None

    await bot.press(promote.ts, "compare_promote", comparison_id, user=ADMIN, thread_ts=status_ts)
    await eventually(lambda: bot.services.models.active())
    assert (await bot.services.models.active()).model == TUNED
    assert (await bot.services.comparer.get(comparison_id)).status == PROMOTED


# With COMPARE_ERROR_RATE=0.5 the gate's test needs little evidence: two picks show it.
DECIDES = {"compare_auto_decide": True, "compare_error_rate": 0.5}


async def test_the_test_promotes_once_enough_picks_say_so(start_bot, slack, openai_fake):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1, **DECIDES, compare_min_votes=2)
    _, status_ts = await gated_job(bot, slack, openai_fake)
    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    first = pairs[0]
    tuned = next(label for label, text in shown(first).items() if TUNED in text).lower()
    await bot.press(first.ts, f"compare_pick_{tuned}", pair_id(first), thread_ts=status_ts)
    await settle()
    assert (await bot.services.models.active()) is None, "one pick is not enough"
    await bot.press(
        first.ts, f"compare_pick_{tuned}", pair_id(first), user="UBOB", thread_ts=status_ts
    )
    await eventually(lambda: bot.services.models.active())
    assert (await bot.services.models.active()).model == TUNED
    await eventually(lambda: said(slack, "The team's picks (2 picks by 2 people"))
    # The job's message shows the tally.
    assert "2 picks by 2 people" in json.dumps(slack.calls_to("chat.update")[-1].params["blocks"])


async def test_the_test_counts_people_not_picks(start_bot, slack, openai_fake):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1, **DECIDES, compare_min_votes=2)
    _, status_ts = await gated_job(bot, slack, openai_fake)
    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    for pair in pairs:  # one person, the new model on every pair
        tuned = next(label for label, text in shown(pair).items() if TUNED in text).lower()
        await bot.press(pair.ts, f"compare_pick_{tuned}", pair_id(pair), thread_ts=status_ts)
    await settle()
    assert (await bot.services.models.active()) is None, "one person is one voice"
    first = pairs[0]
    tuned = next(label for label, text in shown(first).items() if TUNED in text).lower()
    await bot.press(
        first.ts, f"compare_pick_{tuned}", pair_id(first), user="UBOB", thread_ts=status_ts
    )
    await eventually(lambda: bot.services.models.active())


def told(slack, user: str) -> list[str]:
    """What the bot said to `user` alone (ephemeral), oldest first."""
    calls = slack.calls_to("chat.postEphemeral")
    return [call.params["text"] for call in calls if call.params["user"] == user]


async def test_the_test_rejects_a_model_that_is_not_better(start_bot, slack, openai_fake):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1, **DECIDES)
    _, status_ts = await gated_job(bot, slack, openai_fake)
    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    first = pairs[0]
    current = next(label for label, text in shown(first).items() if TUNED not in text).lower()
    for person in ("UALICE", "UCAROL"):
        await bot.press(
            first.ts, f"compare_pick_{current}", pair_id(first), user=person, thread_ts=status_ts
        )
    await eventually(lambda: said(slack, "is not better than"))
    assert (await bot.services.models.active()) is None
    comparison_id = pair_id(first).rsplit("-", 1)[0]
    assert (await bot.services.comparer.get(comparison_id)).status == REJECTED
    # A pick after the end is politely not counted.
    await bot.press(first.ts, "compare_pick_a", pair_id(first), user="UBOB", thread_ts=status_ts)
    # Bob's answer, whenever it lands: Carol's "counted" may still be on its way after it.
    await eventually(lambda: any("closed" in text for text in told(slack, "UBOB")))


async def test_manual_never_swaps_and_says_how_to_promote(start_bot, slack, openai_fake):
    bot = await start_bot(swap_gate="manual", job_poll_seconds=0.1)
    await gated_job(bot, slack, openai_fake, fresh=0)
    [announced] = await eventually(lambda: said(slack, "SWAP_GATE=manual"))
    assert f"/finetune use {TUNED}" in announced
    await settle()
    assert (await bot.services.models.active()) is None
    assert pair_messages(slack) == []
    # `use` switches, with the job's own system prompt.
    assert "switched me to" in await command(bot, slack, f"use {TUNED}")
    assert (await bot.services.models.active()).job_id is not None


async def test_a_comparison_cut_off_by_a_restart_is_finished_by_the_next_process(
    slack, openai_fake, redis_url
):
    settings = make_settings(
        slack, openai_fake, redis_url=redis_url, swap_gate="compare", job_poll_seconds=0.1
    )
    bot = await RunningBot.start(settings)
    try:
        _, status_ts = await gated_job(bot, slack, openai_fake)
        openai_fake.reply_delay = 1.0  # the answers are slow: the bot stops meanwhile
        await eventually(lambda: said(slack, "Before anyone talks to it"))
    finally:
        await bot.stop()  # it finishes the conversation in hand, and leaves the rest
    assert len(pair_messages(slack, thread=status_ts)) < 2

    openai_fake.reply_delay = 0.0
    again = await RunningBot.start(settings)
    try:
        promote = await eventually(lambda: promote_message(slack, status_ts), timeout=15)
        assert len(pair_messages(slack, thread=status_ts)) == 2, "each conversation once"
        comparison = await again.services.comparer.get(comparison_of(promote))
        assert comparison.status == OPEN and len(comparison.pair_ids) == 2
    finally:
        await again.stop()


async def test_the_gate_shows_the_cost_the_judge_and_the_measured_prompt_saving(
    start_bot, slack, openai_fake
):
    bot = await start_bot(
        swap_gate="compare",
        job_poll_seconds=0.1,
        compare_judge_model="gpt-4.1",
        training_system_prompt="Talk like a pirate.",
    )

    def answer(body: dict) -> str:
        return "A" if body["model"] == "gpt-4.1" else answers_by_model(body)

    openai_fake.reply = answer
    _, status_ts = await gated_job(bot, slack, openai_fake, fresh=4)
    [opening] = await eventually(lambda: said(slack, "Before anyone talks to it"))
    # More than a handful of conversations: the price is said before they are answered.
    assert "costs about $0.0" in opening
    await eventually(lambda: len(pair_messages(slack, thread=status_ts)) == 4)
    shown_blocks = json.dumps([m.blocks for m in pair_messages(slack, thread=status_ts)])
    assert "Judge model: A is better (people's picks decide)" in shown_blocks
    [done] = await eventually(lambda: said(slack, "All 4 pairs are posted"))
    # The shorter training prompt, measured on both sides of every pair.
    assert "tokens shorter a request (measured)" in done


async def test_an_admin_compares_from_the_home_into_a_channel(bot, slack, openai_fake):
    openai_fake.reply = answers_by_model
    trigger = await bot.press_home_button("home_compare", user=ADMIN)
    opened = await slack.wait_for("views.open", lambda c: c.params["trigger_id"] == trigger)
    answer = await bot.submit_view(
        opened.params["view"],
        {"prompt": ("value", "what's for lunch?"), "model": ("value", TUNED)},
        user=ADMIN,
        conversations={"channel": "CLUNCH"},
    )
    assert answer is None
    [posted] = await eventually(lambda: pair_messages(slack, channel="CLUNCH"))
    assert "what's for lunch?" in json.dumps(posted.blocks)
    await eventually(lambda: "Both answers are posted" in json.dumps(slack.home_views.get(ADMIN)))


async def test_a_forged_home_compare_form_from_a_non_admin_posts_nothing(bot, slack, openai_fake):
    openai_fake.reply = answers_by_model
    openai_fake.models.add(TUNED)
    await command(bot, slack, f"use {TUNED}")  # so anyone may compare it with gpt-4.1-mini
    trigger = await bot.press_home_button("home_compare", user=ADMIN)
    opened = await slack.wait_for("views.open", lambda c: c.params["trigger_id"] == trigger)
    # Someone else submits the admin's form (a replayed or forged payload) into a channel.
    answer = await bot.submit_view(
        opened.params["view"],
        {"prompt": ("value", "<!channel> spend for me"), "model": ("value", "gpt-4.1-mini")},
        user="UMALLORY",
        conversations={"channel": "CGENERAL"},
    )
    assert answer is None
    await eventually(lambda: ADMINS_ONLY in json.dumps(slack.home_views.get("UMALLORY")))
    await settle()
    assert pair_messages(slack, channel="CGENERAL") == [] and openai_fake.chat_requests == []
