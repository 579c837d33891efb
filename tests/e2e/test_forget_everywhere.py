"""Forget-me and deletion reach every copy, through signed Slack requests: a running job's
snapshot and the gate that reads it, posted comparison pairs, prompts typed into a comparison,
picks, corrections, votes and vetoes on other people's replies, votes journaled or held before
the forget-me, and the file a local worker has not taken yet. Each test says "forget me" and then
tries every way the text could come back."""

from __future__ import annotations

import asyncio
import json
import time

from bot.comparison.views import WITHDRAWN
from storage.gpu_queue import GpuQueue
from storage.keys import Keys
from storage.vetoes import FORGOTTEN
from tests.e2e.harness import CHANNEL
from tests.e2e.test_compare import TUNED, answers_by_model, gated_job, pair_id, pair_messages, said
from tests.e2e.test_core_loop import settle
from tests.e2e.test_curation import (
    answered,
    correct,
    deleted,
    everything_stored,
    open_correction,
    trained,
)
from tests.e2e.test_finetune import ADMIN, command, eventually, seed_examples


async def exported(bot, kind: str = "sft") -> str:
    content, _ = await bot.services.dataset.export_bytes(kind)
    return content.decode()


def pair_texts(slack) -> list[str]:
    return [json.dumps(message.blocks) for message in pair_messages_anywhere(slack)]


def pair_messages_anywhere(slack) -> list:
    return [
        m
        for m in slack.messages.values()
        if any(b.get("block_id", "").startswith("compare-cmp") for b in m.blocks or [])
    ]


async def test_a_running_jobs_snapshot_and_its_gate_leave_out_a_forgotten_person(
    start_bot, slack, openai_fake
):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1)
    openai_fake.reply = answers_by_model
    for i in range(3):
        _, alices = await answered(bot, slack, f"alice asks about tides {i}", user="UALICE")
        await bot.react(alices, user="UCAROL")
    for i in range(9):
        _, bobs = await answered(bot, slack, f"bob's secret plan {i}", user="UBOB")
        await bot.react(bobs, user="UCAROL")
    await settle()
    # Half held out: the gate reads its conversations from the job's validation snapshot.
    assert "Started fine-tuning job" in await command(bot, slack, "start holdout=0.5")
    job_id = openai_fake.latest_job()["id"]
    validation = openai_fake.files[openai_fake.latest_job()["validation_file"]]
    assert b"secret plan" in validation.content

    answer = await command(bot, slack, "forget-me", user="UBOB")
    assert "removed 9 examples" in answer and "in job files and comparisons" in answer

    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000, fine_tuned_model=TUNED)
    await eventually(lambda: said(slack, "pairs are posted"), timeout=15)
    shown = pair_texts(slack)
    assert shown and all("secret plan" not in text for text in shown)
    assert any("alice asks about tides" in text for text in shown)
    # The snapshot and the files uploaded for the job went once the gate had its conversations.
    assert await bot.services.jobs.with_exports() == []
    assert not openai_fake.files
    assert "secret plan" not in await everything_stored(bot.services.redis)


async def test_posted_gate_pairs_are_taken_down_with_their_picks_and_preference_pairs(
    start_bot, slack, openai_fake
):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1)
    await gated_job(bot, slack, openai_fake)  # UALICE asked every question
    posted = await eventually(lambda: _pairs_posted(slack, 2))
    for message in posted:
        await bot.press(message.ts, "compare_pick_a", pair_id(message), user="UCAROL")
    await eventually(lambda: _dpo_with(bot, "a fresh question"))

    await command(bot, slack, "forget-me", user="UALICE")
    for message in posted:
        assert slack.messages[(message.channel, message.ts)].text == WITHDRAWN
        assert not slack.messages[(message.channel, message.ts)].blocks
    assert "fresh question" not in await exported(bot, "dpo")
    stored = await everything_stored(bot.services.redis)
    assert "a fresh question" not in stored and "question number" not in stored
    assert said(slack, "Every conversation of this comparison was removed")


def _pairs_posted(slack, count: int) -> list | None:
    posted = pair_messages_anywhere(slack)
    return posted if len(posted) == count else None


async def _dpo_with(bot, words: str) -> str | None:
    text = await exported(bot, "dpo")
    return text if words in text else None


async def test_a_prompt_typed_into_compare_and_a_persons_picks_go_with_forget_me(
    bot, slack, openai_fake
):
    openai_fake.reply = answers_by_model
    await command(bot, slack, f"compare model={TUNED} the vault code is 4471, which is safer?")
    [message] = await eventually(lambda: pair_messages(slack))
    await bot.press(message.ts, "compare_pick_a", pair_id(message), user="UCAROL")
    await eventually(lambda: _dpo_with(bot, "vault code"))

    # Carol's pick made the preference pair; without her pick there is none.
    await command(bot, slack, "forget-me", user="UCAROL")
    assert "vault code" not in await exported(bot, "dpo")
    picks = Keys(bot.settings.redis_prefix).picks(pair_id(message))
    assert await bot.services.redis.hgetall(picks) == {}

    # The admin who typed the prompt: its post is taken down and nothing of it stays.
    await command(bot, slack, "forget-me", user=ADMIN)
    assert slack.messages[(CHANNEL, message.ts)].text == WITHDRAWN
    assert "vault code" not in await everything_stored(bot.services.redis)
    assert "compared" not in await command(bot, slack, "models", user=ADMIN)


async def test_forget_me_takes_the_corrections_a_person_wrote_on_anothers_reply(
    bot, slack, openai_fake
):
    openai_fake.reply = "Deploys happen whenever."
    _, reply = await answered(bot, slack, "when do we deploy?", user="UALICE")
    view = await open_correction(bot, slack, reply, user="UBOB")
    await correct(bot, view, "Bob says: Tuesdays at 10, after the standup.", user="UBOB")
    await settle()
    assert "Tuesdays at 10" in await exported(bot) and "Tuesdays at 10" in await exported(
        bot, "dpo"
    )

    answer = await command(bot, slack, "forget-me", user="UBOB")
    assert "removed 1 example, 1 preference pair" in answer
    assert "Tuesdays at 10" not in await exported(bot) + await exported(bot, "dpo")
    assert "Tuesdays at 10" not in await everything_stored(bot.services.redis)


async def test_forget_me_takes_back_votes_on_others_replies_and_keeps_vetoes_nameless(bot, slack):
    _, first = await answered(bot, slack, "alice's first question", user="UALICE")
    _, second = await answered(bot, slack, "alice's second question", user="UALICE")
    await bot.react(first, user="UBOB")
    await bot.react(second, user="UCAROL")
    await bot.react(second, user="UBOB", reaction="-1")
    await settle()
    assert await trained(bot) == ["alice's first question"]

    answer = await command(bot, slack, "forget-me", user="UBOB")
    assert "your votes and vetoes on 2 replies no longer name you" in answer
    assert await trained(bot) == [], "his vote was the only one; his veto still stands"
    [vetoed] = await bot.services.vetoes.vetoed_ids()
    [veto] = await bot.services.vetoes.of(vetoed)
    assert veto.user == FORGOTTEN and veto.reason is None
    assert "UBOB|" not in await everything_stored(bot.services.redis)

    await bot.react(first, user="UBOB")  # after forget-me: not recorded
    await settle()
    assert await trained(bot) == []


async def test_a_vote_journaled_before_forget_me_is_never_applied(bot, slack):
    _, reply = await answered(bot, slack, "alice asks while it is busy", user="UALICE")
    lag = asyncio.create_task(bot.services.lag.run())
    await asyncio.sleep(0.02)
    time.sleep(0.1)  # noqa: ASYNC251 (the loop stops for 100 ms, as in a saturated process)
    await asyncio.sleep(0.01)
    await bot.react(reply, user="UBOB")
    assert await bot.services.vote_journal.waiting() == 1
    lag.cancel()

    await command(bot, slack, "forget-me", user="UBOB")
    await bot.services.vote_journal.open()
    assert await bot.services.vote_applier.apply_some() == 1
    assert await trained(bot) == []
    assert "UBOB|" not in await everything_stored(bot.services.redis)


async def test_forget_me_reaches_the_file_a_local_worker_has_not_taken_yet(
    start_bot, slack, tmp_path
):
    bot = await start_bot(train_backend="local", local_models_dir=tmp_path, job_poll_seconds=0.1)
    for i in range(5):
        for who, text in (("UALICE", "alice's question"), ("UBOB", "bob's private question")):
            _, reply = await answered(bot, slack, f"{text} {i}", user=who)
            await bot.react(reply, user="UCAROL")
    await settle()
    assert "local GPU worker" in await command(bot, slack, "start")
    job = await bot.services.jobs.get(await bot.services.jobs.active_job_id())
    files = GpuQueue(bot.services.redis, bot.settings.redis_prefix)
    assert b"bob's private question" in await files.load_file(job.training_file)

    await command(bot, slack, "forget-me", user="UBOB")
    content = await files.load_file(job.training_file)
    assert b"bob's private question" not in content and b"alice's question" in content

    # Once the job has ended, its file and snapshot go.
    await command(bot, slack, "cancel")
    await eventually(lambda: _gone(files, job.training_file), timeout=10)
    assert await bot.services.jobs.with_exports() == []


async def _gone(files: GpuQueue, file_id: str) -> bool:
    return await files.load_file(file_id) is None


async def test_deleting_a_message_takes_down_the_comparison_that_shows_it(
    start_bot, slack, openai_fake
):
    bot = await start_bot(swap_gate="compare", job_poll_seconds=0.1)
    openai_fake.reply = answers_by_model
    await seed_examples(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    # Approved after the job started: the gate compares on it.
    asked, reply = await answered(bot, slack, "my travel dates are the 3rd to the 9th")
    await bot.react(reply)
    await settle()
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000, fine_tuned_model=TUNED)
    [message] = await eventually(lambda: _pairs_posted(slack, 1))
    assert "travel dates" in json.dumps(message.blocks)

    await deleted(bot, CHANNEL, asked)
    await eventually(lambda: slack.messages[(message.channel, message.ts)].text == WITHDRAWN)
    assert "travel dates" not in await everything_stored(bot.services.redis)
