"""Continuous training end to end: the policy starts a job by itself once enough new examples
came in (once, whatever the processes), keeps to its monthly budget, and only admins change
it. The job it starts is compared, and the team's picks decide."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from tests.e2e.harness import CHANNEL
from tests.e2e.test_compare import TUNED, answers_by_model, pair_id, shown, two_pairs
from tests.e2e.test_core_loop import bot_replies, settle
from tests.e2e.test_finetune import command, eventually

POLICY = {"job_poll_seconds": 0.1, "job_channel": f"slack:{CHANNEL}"}
EARLIER = "ft:gpt-4.1-mini-2025-04-14:acme::earlier"  # TUNED is not part of its name


async def approve(bot, slack, count: int, start: int = 0, channel: str = CHANNEL) -> None:
    """`count` more conversations, each approved with a reaction (found by their threads: a
    gate may be posting its pairs meanwhile)."""
    threads = [
        await bot.mention(f"question number {i}", channel=channel)
        for i in range(start, start + count)
    ]
    answered = await eventually(
        lambda: found if len(found := _answers_in(slack, channel, threads)) == count else None
    )
    for reply in answered:
        await bot.react(reply.ts, channel=channel)
    await settle()


def _answers_in(slack, channel: str, threads: list[str]) -> list:
    return [r for r in bot_replies(slack) if r.channel == channel and r.thread_ts in threads]


def posted(slack, words: str) -> list[str]:
    """Messages posted or redrawn (text and blocks) that say `words`."""
    calls = slack.calls_to("chat.postMessage") + slack.calls_to("chat.update")
    shown = [c.params.get("text", "") + json.dumps(c.params.get("blocks", [])) for c in calls]
    return [text for text in shown if words in text]


async def test_five_new_approvals_start_a_job_by_themselves_and_peoples_picks_decide(
    start_bot, slack, openai_fake
):
    openai_fake.reply = answers_by_model
    bot = await start_bot(**POLICY, compare_prompts=2, compare_error_rate=0.5, compare_min_votes=2)
    # A first job, started by an admin (fine-tuning needs 10 examples), swaps in at once.
    await approve(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    first = openai_fake.latest_job()
    openai_fake.set_job(first["id"], "succeeded", fine_tuned_model=EARLIER)
    await eventually(lambda: bot.services.models.active())

    saved = await command(bot, slack, "policy every=5")
    assert f"every 5 new examples (0 since `{first['id']}`)" in saved
    await approve(bot, slack, 4, start=10)
    await asyncio.sleep(0.5)
    assert len(openai_fake.jobs) == 1, "4 of 5 new examples: nothing starts"

    await approve(bot, slack, 1, start=14)
    job = await eventually(lambda: len(openai_fake.jobs) == 2 and openai_fake.latest_job())
    status = await eventually(lambda: posted(slack, "started by the policy"))
    assert f"started by the policy (5 new examples since `{first['id']}`)" in status[0]
    await asyncio.sleep(0.5)
    assert len(openai_fake.jobs) == 2, "one job, however many ticks"
    ledger = await command(bot, slack, "ledger")
    assert job["id"] in ledger and "started by the policy" in ledger and first["id"] in ledger

    # Nobody asked for it, so it is compared even with SWAP_GATE=auto, and the picks decide.
    openai_fake.set_job(job["id"], "succeeded", trained_tokens=1000, fine_tuned_model=TUNED)
    status_ts = (await bot.services.jobs.get(job["id"])).status_message_ts
    pairs = await eventually(lambda: two_pairs(slack, status_ts))
    for pair in pairs:  # one person's many picks are one voice
        tuned = next(label for label, text in shown(pair).items() if TUNED in text).lower()
        await bot.press(pair.ts, f"compare_pick_{tuned}", pair_id(pair), thread_ts=status_ts)
    await asyncio.sleep(0.5)
    assert (await bot.services.models.active()).model == EARLIER

    first_pair = pairs[0]
    tuned = next(label for label, text in shown(first_pair).items() if TUNED in text).lower()
    await bot.press(
        first_pair.ts,
        f"compare_pick_{tuned}",
        pair_id(first_pair),
        user="UBOB",
        thread_ts=status_ts,
    )
    await eventually(lambda: posted(slack, "The team's picks (3 picks by 2 people"))
    assert (await bot.services.models.active()).model == TUNED


async def test_over_budget_the_policy_starts_nothing_and_says_so_once_with_the_figures(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**POLICY, train_every_examples=10, train_budget_monthly=0.0001)
    await approve(bot, slack, 10)
    [said] = await eventually(lambda: posted(slack, "The training policy would start a job"))
    assert "10 new examples so far" in said
    assert "more than what is left of this month's budget: $0.00 of $0.00 ($0.00 spent)" in said
    await asyncio.sleep(0.5)
    assert not openai_fake.jobs
    assert len(posted(slack, "The training policy would start a job")) == 1


async def test_a_schedule_starts_a_job_once_per_slot_and_only_with_something_new(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**POLICY, train_schedule="daily 09:00")
    bot.services.clock.set_now(datetime(2026, 12, 7, 8, 0, tzinfo=UTC))
    await approve(bot, slack, 10)
    await asyncio.sleep(0.5)
    assert not openai_fake.jobs, "before 09:00"

    bot.services.clock.set_now(datetime(2026, 12, 7, 9, 1, tzinfo=UTC))
    job = await eventually(lambda: openai_fake.jobs and openai_fake.latest_job())
    assert posted(slack, "started by the policy (the schedule (daily at 09:00 UTC)")
    openai_fake.set_job(job["id"], "failed")
    await eventually(lambda: bot.services.jobs.finished(limit=1))
    await asyncio.sleep(0.5)
    assert len(openai_fake.jobs) == 1, "the 09:00 slot acts once"


async def test_only_admins_change_the_policy_and_bad_values_get_one_sentence(bot, slack):
    refused = await command(bot, slack, "policy every=5", user="UALICE")
    assert "admins" in refused
    assert "off" in await command(bot, slack, "policy", user="UALICE")  # anyone may look

    assert "`every` takes a number of examples, not `lots`" in await command(
        bot, slack, "policy every=lots"
    )
    assert "`someday` is not a schedule" in await command(bot, slack, "policy schedule=someday")
    assert "`budget` must be between 0" in await command(bot, slack, "policy budget=-3")
    assert "`often` is not a policy option" in await command(bot, slack, "policy often=1")

    saved = await command(bot, slack, 'policy every=50 schedule="mon 09:00" budget=20')
    assert "every 50 new examples (0 so far) and weekly on mon at 09:00 UTC" in saved
    assert "of a $20.00 monthly budget" in saved
    assert "every 50 new examples" in await command(bot, slack, "status")
    assert "off" in await command(bot, slack, "policy off")
    assert "every" not in await command(bot, slack, "policy")


async def test_two_processes_with_the_policy_and_two_triggers_at_once_start_one_job(
    start_bot, slack, openai_fake
):
    both = {**POLICY, "train_every_examples": 10, "train_schedule": "daily 09:00"}
    first, second = await start_bot(**both), await start_bot(**both)
    for bot in (first, second):
        bot.services.clock.set_now(datetime(2026, 12, 7, 9, 1, tzinfo=UTC))
    await approve(first, slack, 12)  # the count is reached and the slot is due, together
    await eventually(lambda: openai_fake.jobs)
    await asyncio.sleep(1)
    assert len(openai_fake.jobs) == 1
    assert len(posted(slack, "started by the policy")) >= 1


async def test_after_a_restart_the_policy_counts_only_examples_new_since_its_job(
    start_bot, slack, openai_fake
):
    first = await start_bot(**POLICY, train_every_examples=10)
    await approve(first, slack, 10)
    job = await eventually(lambda: openai_fake.jobs and openai_fake.latest_job())
    await first.stop()
    openai_fake.set_job(job["id"], "succeeded", fine_tuned_model=EARLIER)

    again = await start_bot(**POLICY, train_every_examples=10)
    await eventually(lambda: again.services.jobs.finished(limit=1))  # followed after the restart
    # A restarted harness numbers its messages from the start again: another channel keeps
    # these threads apart from the first process's.
    await approve(again, slack, 9, start=10, channel="C2")
    await asyncio.sleep(0.5)
    assert len(openai_fake.jobs) == 1, "the ten before the job are not counted again"
    assert f"every 10 new examples (9 since `{job['id']}`)" in await command(again, slack, "status")
