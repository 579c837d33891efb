"""The same curated dataset trained by another backend, with chat served from there."""

from __future__ import annotations

import json

from tests.e2e.test_finetune import FAST, announcements, command, eventually, seed_examples
from tests.fakes.together_api import FakeTogether

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def on_together(together: FakeTogether) -> dict:
    return {
        "train_backend": "together",
        "train_base_url": together.base_url,
        "train_api_key": together.api_key,
        "chat_base_url": together.base_url,
        "chat_api_key": together.api_key,
        "chat_model": LLAMA,
        "finetune_base_model": LLAMA,
        **FAST,
    }


async def test_together_trains_the_dataset_and_the_bot_chats_with_the_result(
    start_bot, slack, openai_fake, together
):
    bot = await start_bot(**on_together(together))
    await seed_examples(bot, slack, 10)
    assert together.chat_requests and not openai_fake.chat_requests  # chat is on Together

    answer = await command(bot, slack, "start suffix=pirate")
    assert "with Together AI" in answer
    [request] = together.job_requests
    assert request["model"] == LLAMA and request["lora"] is True
    assert request["suffix"] == "pirate" and request["n_epochs"] == 10
    uploaded = together.file_contents[request["training_file"]]
    assert await bot.services.jobs.load_export(together.latest_job()["id"], "training") == uploaded
    lines = [json.loads(line) for line in uploaded.decode().splitlines()]
    assert len(lines) == 10 and all(line["messages"][-1]["weight"] == 1 for line in lines)
    assert not openai_fake.job_requests

    job = together.latest_job()
    together.set_job(job["id"], "running")
    together.add_event(job["id"], "Epoch 1/10 completed")
    await eventually(lambda: status_says(slack, "Epoch 1/10 completed"))

    together.set_job(job["id"], "completed", token_count=1000)
    await eventually(lambda: announcements(slack))
    [announcement] = announcements(slack)
    assert job["model_output_name"] in announcement and "10,000" in announcement

    await bot.mention("and now?")
    await eventually(lambda: together.chat_requests[-1]["messages"][-1]["content"] == "and now?")
    assert together.chat_requests[-1]["model"] == job["model_output_name"]


async def test_a_failed_together_job_keeps_the_model_and_says_why(start_bot, slack, together):
    bot = await start_bot(**on_together(together))
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job = together.latest_job()
    together.set_job(job["id"], "error", error="Training data has too few tokens")
    await eventually(lambda: announcements(slack))
    assert "too few tokens" in announcements(slack)[0]
    assert await bot.services.switcher.current() == LLAMA


async def test_together_cancel_and_unknown_models_are_clear(start_bot, slack, together):
    bot = await start_bot(**on_together(together))
    await seed_examples(bot, slack, 10)
    answer = await command(bot, slack, "start model=gpt-4.1-mini-2025-04-14")
    assert "gpt-4.1-mini-2025-04-14" in answer and not together.job_requests
    await command(bot, slack, "start")
    assert "Asked Together AI to cancel" in await command(bot, slack, "cancel")
    await eventually(lambda: announcements(slack))
    assert "cancelled" in announcements(slack)[0]


async def test_status_warns_that_openai_training_closes_and_names_the_alternative(
    bot, slack, start_bot
):
    status = await command(bot, slack, "status")
    assert "stops accepting new fine-tuning jobs on 2027-01-06" in status
    assert "TRAIN_BACKEND" in status

    other = await start_bot(train_alternative="local", redis_prefix="other")
    await seed_examples(other, slack, 10)
    answer = await command(other, slack, "start")
    assert "Started fine-tuning job" in answer and "Set TRAIN_BACKEND=local" in answer


def status_says(slack, text: str) -> bool:
    return any(text in json.dumps(c.params.get("blocks")) for c in slack.calls_to("chat.update"))
