"""Moving off a model before its provider switches it off, with a clock the test controls:
the daily warning, `/finetune migrate` through the comparison gate to the swap on the last day,
the automatic start MIGRATION_START_DAYS before, and a migration the picks reject."""

from __future__ import annotations

from datetime import date

from storage.migrations import COMPARING, DONE, TRAINING
from tests.e2e.test_backends import LLAMA
from tests.e2e.test_compare import pair_messages, said, shown
from tests.e2e.test_core_loop import bot_replies, replies, settle
from tests.e2e.test_finetune import FAST, command, eventually, seed_examples
from tests.e2e.test_providers import (
    BASE,
    ask,
    two_providers,  # noqa: F401 (a fixture)
)

SHUTDOWN = "2027-01-14"
JOBS = "CJOBS"


async def migrating_bot(start_bot, openai_fake, two_providers, **overrides):  # noqa: F811
    openai_fake.shutdown_dates[BASE] = SHUTDOWN
    return await start_bot(
        providers_file=two_providers,
        chat_model=BASE,
        migration_target=f"together:{LLAMA}",
        job_channel=f"slack:{JOBS}",
        **FAST,
        **overrides,
    )


def in_job_channel(slack, words: str) -> list[str]:
    return [
        c.params["text"]
        for c in slack.calls_to("chat.postMessage")
        if c.params["channel"] == JOBS and words in c.params["text"]
    ]


async def approve_fresh(bot, slack, count: int = 2) -> None:
    """Conversations approved after the job started: what the gate holds out."""
    before = len(bot_replies(slack))
    for i in range(count):
        await bot.mention(f"a fresh question {i}")
    for message in (await replies(slack, before + count))[before:]:
        await bot.react(message.ts)
    await settle()


async def test_migrate_retrains_elsewhere_compares_and_swaps_the_day_before_the_shutdown(
    start_bot,
    slack,
    openai_fake,
    together,
    two_providers,  # noqa: F811
):
    bot = await migrating_bot(start_bot, openai_fake, two_providers)
    bot.services.clock.set_today(date(2026, 12, 20))
    await seed_examples(bot, slack, 10)

    estimate = await command(bot, slack, "migrate estimate")
    assert f"`{BASE}` on OpenAI shuts down on {SHUTDOWN} (in 25 days)" in estimate, estimate
    assert f"Retraining 10 examples on `{LLAMA}` at Together AI" in estimate
    assert "4,800 billed tokens" in estimate and "about 10 minutes" in estimate, estimate
    assert not together.job_requests  # an estimate spends nothing

    answer = await command(bot, slack, "migrate")
    assert f"Migrating from `{BASE}`" in answer and "by 2027-01-13 at the latest" in answer
    job = together.latest_job()
    assert job["model"] == LLAMA and not openai_fake.job_requests
    assert (await bot.services.migrations.current()).status == TRAINING
    await approve_fresh(bot, slack)

    together.set_job(job["id"], "completed", token_count=1000)
    tuned = job["model_output_name"]
    # The gate: the old model, still serving, beside the new one; no swap yet.
    pairs = await eventually(
        lambda: pairs if len(pairs := pair_messages_anywhere(slack)) == 2 else None
    )
    for pair in pairs:
        assert sorted(shown(pair).values()) == sorted(
            [f"Answer from {BASE}", f"Answer from {tuned}"]
        )
    await eventually(lambda: _status_is(bot, COMPARING))
    assert await ask(bot, slack, "who answers now?") == f"Answer from {BASE}"
    status = await command(bot, slack, "status")
    assert "shuts down on 2027-01-14" in status and "comparing" in status, status

    # Nobody picks; the last day before the shutdown comes and the gate promotes.
    bot.services.clock.set_today(date(2027, 1, 13))
    await eventually(lambda: _active_is(bot, tuned))
    [promoted] = await eventually(lambda: said(slack, "The migration's deadline"))
    assert f"shuts down on {SHUTDOWN}" in promoted and "0 picks" in promoted
    await eventually(lambda: _status_is(bot, DONE))
    assert await ask(bot, slack, "and now?") == f"Answer from {tuned}"
    assert together.chat_requests[-1]["model"] == tuned


async def test_the_automatic_migration_starts_by_itself_at_the_configured_distance(
    start_bot,
    slack,
    openai_fake,
    together,
    two_providers,  # noqa: F811
):
    bot = await migrating_bot(
        start_bot, openai_fake, two_providers, migrate_automatically=True, migration_start_days=21
    )
    bot.services.clock.set_today(date(2026, 12, 20))
    await seed_examples(bot, slack, 10)

    # 25 days before: a warning in the job channel, once that day, and no job.
    [warning] = await eventually(lambda: in_job_channel(slack, "shuts down on 2027-01-14"))
    assert "in 25 days" in warning and "starts by itself on 2026-12-24" in warning, warning
    await settle()
    assert len(in_job_channel(slack, "shuts down on 2027-01-14")) == 1
    assert not together.job_requests

    # The next day, the next warning.
    bot.services.clock.set_today(date(2026, 12, 21))
    await eventually(lambda: in_job_channel(slack, "(in 24 days)"))
    assert not together.job_requests

    # 21 days before: the migration starts, once, on the target.
    bot.services.clock.set_today(date(2026, 12, 24))
    await eventually(lambda: together.job_requests)
    await settle()
    assert len(together.job_requests) == 1 and together.job_requests[0]["model"] == LLAMA
    migration = await bot.services.migrations.current()
    assert migration.automatic and migration.status == TRAINING
    assert migration.promote_by == date(2027, 1, 13)


async def test_a_migration_the_picks_reject_does_not_swap_at_the_deadline(
    start_bot,
    slack,
    openai_fake,
    together,
    two_providers,  # noqa: F811
):
    bot = await migrating_bot(
        start_bot,
        openai_fake,
        two_providers,
        compare_auto_decide=True,
        compare_error_rate=0.5,
    )
    bot.services.clock.set_today(date(2026, 12, 20))
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "migrate")
    await approve_fresh(bot, slack)
    job = together.latest_job()
    together.set_job(job["id"], "completed", token_count=1000)
    [first, _] = await eventually(
        lambda: pairs if len(pairs := pair_messages_anywhere(slack)) == 2 else None
    )
    old = next(label for label, text in shown(first).items() if BASE in text).lower()
    [actions] = [b for b in first.blocks if b["type"] == "actions"]
    for person in ("UALICE", "UCAROL"):  # two picks for the old model: the test rejects
        await bot.press(
            first.ts,
            f"compare_pick_{old}",
            actions["elements"][0]["value"],
            user=person,
            thread_ts=first.thread_ts,
        )
    await eventually(lambda: _status_is(bot, DONE))

    bot.services.clock.set_today(date(2027, 1, 13))
    await settle()
    assert await bot.services.models.active() is None
    assert await ask(bot, slack, "still you?") == f"Answer from {BASE}"


def pair_messages_anywhere(slack) -> list:
    threads = {m.thread_ts for m in slack.messages.values() if m.thread_ts}
    return [pair for thread in threads for pair in pair_messages(slack, thread=thread)]


async def _status_is(bot, status: str) -> bool:
    migration = await bot.services.migrations.current()
    return migration is not None and migration.status == status


async def _active_is(bot, model: str) -> bool:
    active = await bot.services.models.active()
    return active is not None and active.model == model
