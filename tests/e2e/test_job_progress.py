"""A job's progress as people see it in Slack: one status message redrawn within chat.update's
limits, with a bar, times, losses and a sparkline; a loss chart when it ends; and a clear
answer when the bot can't post where the job was started."""

from __future__ import annotations

import itertools
import json
import logging
import sys

import pytest

from bot.training.launch import NOTHING_STARTED
from tests.e2e.test_finetune import command, eventually, seed_examples

FAST = {"job_poll_seconds": 0.05}


def status_messages(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.params.get("blocks")]


async def started_job(bot, slack, openai_fake) -> str:
    await seed_examples(bot, slack, 10)
    assert "Started fine-tuning job" in await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    openai_fake.set_job(job_id, "running")
    return job_id


def add_steps(openai_fake, job_id: str, steps: range, total: int = 20) -> None:
    for step in steps:
        data = {"step": step, "total_steps": total, "train_loss": 2.0 / step}
        if step % 5 == 0:
            data["valid_loss"] = 2.2 / step
        openai_fake.add_job_event(job_id, f"Step {step}/{total}", type="metrics", data=data)


async def test_the_status_message_shows_a_bar_times_losses_and_their_trend(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    job_id = await started_job(bot, slack, openai_fake)
    add_steps(openai_fake, job_id, range(1, 6))
    add_steps(openai_fake, job_id, range(6, 11))

    def drawn() -> str:
        updates = slack.calls_to("chat.update")
        return json.dumps(updates[-1].params["blocks"], ensure_ascii=False) if updates else ""

    await eventually(lambda: "50% (step 10 of 20)" in drawn())
    text = drawn()
    assert "▰" * 10 + "▱" * 10 in text
    assert "Elapsed" in text and "left" in text
    assert "Training loss 0.2000" in text and "validation loss 0.2200" in text
    assert "so far `" in text  # the sparkline of the loss so far
    assert len(status_messages(slack)) == 1


async def test_updates_are_throttled_and_the_last_state_is_never_lost(
    start_bot, slack, openai_fake
):
    bot = await start_bot(job_status_update_seconds=1.0, **FAST)
    job_id = await started_job(bot, slack, openai_fake)
    for step in range(1, 21):  # a step every poll: far more changes than redraws
        add_steps(openai_fake, job_id, range(step, step + 1))
        await eventually(lambda s=step: bot_saw_step(bot, job_id, s))
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000)

    def finished() -> bool:
        updates = slack.calls_to("chat.update")
        return bool(updates) and "succeeded" in json.dumps(updates[-1].params)

    await eventually(finished, timeout=10)
    times = [call.at for call in slack.calls_to("chat.update")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert gaps and min(gaps) >= 0.9, gaps
    assert len(times) < 12, "twenty steps and a finish drawn in far fewer redraws"
    assert len(status_messages(slack)) == 1


async def bot_saw_step(bot, job_id: str, step: int) -> bool:
    job = await bot.services.jobs.get(job_id)
    return job is not None and job.step == step


async def test_a_finished_job_posts_its_loss_chart_in_the_status_thread(
    start_bot, slack, openai_fake
):
    pytest.importorskip("matplotlib", reason="the [charts] extra draws the chart")
    bot = await start_bot(**FAST)
    job_id = await started_job(bot, slack, openai_fake)
    add_steps(openai_fake, job_id, range(1, 21))
    await eventually(lambda: bot_saw_step(bot, job_id, 20))
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000)

    await eventually(lambda: slack.uploads)
    [chart] = slack.uploads
    assert chart.content.startswith(b"\x89PNG\r\n\x1a\n") and chart.filename.endswith(".png")
    [status] = status_messages(slack)
    assert chart.thread_ts == status.response["ts"]


async def test_without_the_charts_extra_the_job_ends_without_a_chart(
    start_bot, slack, openai_fake, monkeypatch, caplog
):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    caplog.set_level(logging.INFO, logger="bot.training.watcher")
    bot = await start_bot(**FAST)
    job_id = await started_job(bot, slack, openai_fake)
    add_steps(openai_fake, job_id, range(1, 11))
    await eventually(lambda: bot_saw_step(bot, job_id, 10))
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000)

    await eventually(lambda: "no loss chart" in caplog.text)
    assert slack.uploads == []
    assert "so far `" in json.dumps(slack.calls_to("chat.update")[-1].params, ensure_ascii=False)


async def test_a_job_without_metrics_gets_no_chart_and_no_error(start_bot, slack, openai_fake):
    bot = await start_bot(**FAST)
    job_id = await started_job(bot, slack, openai_fake)
    openai_fake.set_job(job_id, "succeeded", trained_tokens=1000)
    await eventually(lambda: "Fine-tuning finished" in json.dumps([c.params for c in slack.calls]))
    assert slack.uploads == []


async def test_starting_where_the_bot_cannot_post_says_what_to_do_and_spends_nothing(
    bot, slack, openai_fake
):
    await seed_examples(bot, slack, 10)
    slack.not_joined("GSECRET")
    name = "in-secret"
    await bot.command("start", slack.response_url(name), user="UADMIN", channel="GSECRET")
    answer = await slack.wait_for("response_url", lambda c: c.params.get("_name") == name)
    assert "invite me" in answer.params["text"] and NOTHING_STARTED in answer.params["text"]
    assert openai_fake.files == {} and openai_fake.job_requests == []
    # The lock was freed: a start from a channel the bot is in works.
    assert "Started fine-tuning job" in await command(bot, slack, "start")
