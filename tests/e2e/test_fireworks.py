"""The same curated dataset trained on Fireworks AI, with the tuned LoRA served from there."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.e2e.test_backends import status_says
from tests.e2e.test_compare import said
from tests.e2e.test_core_loop import bot_replies, replies
from tests.e2e.test_finetune import FAST, announcements, command, eventually, seed_examples
from tests.e2e.test_providers import openai_provider
from tests.fakes.fireworks_api import FakeFireworks

LLAMA = "accounts/fireworks/models/llama-v3p1-8b-instruct"
GLM = "accounts/fireworks/models/glm-5p3-flash"  # LoRAs on it are served serverless
DEPLOYMENT = "accounts/acme/deployments/pirate"


@pytest.fixture
async def fireworks() -> AsyncIterator[FakeFireworks]:
    fake = FakeFireworks()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def on_fireworks(openai_fake, fireworks, tmp_path, monkeypatch):
    """Settings for a bot that chats on OpenAI and trains on Fireworks (`fw`), optionally
    loading what it trains onto a dedicated deployment."""
    monkeypatch.setenv("OPENAI_API_KEY", openai_fake.api_key)
    monkeypatch.setenv("FIREWORKS_API_KEY", fireworks.api_key)

    def settings(deployment: str | None = None) -> dict:
        dedicated = f'deployment = "{deployment}"' if deployment else ""
        path = tmp_path / "providers.toml"
        path.write_text(
            openai_provider(openai_fake, train=False)
            + f"""
[providers.fw]
kind = "fireworks"
base_url = "{fireworks.base_url}"
api_key_env = "FIREWORKS_API_KEY"
account_id = "{fireworks.account_id}"
{dedicated}
chat = true
train = true

[defaults]
chat = "openai"
train = "fw"
""",
            encoding="utf-8",
        )
        return {"providers_file": path, **FAST}

    return settings


def add_deployment(fireworks: FakeFireworks, base: str = LLAMA) -> None:
    """A dedicated deployment of `base` that takes LoRA addons, as a team would create."""
    fireworks.deployments[DEPLOYMENT] = {"baseModel": base, "enableAddons": True, "state": "READY"}


async def load_lora(fireworks: FakeFireworks, model: str, deployment: str) -> None:
    """What `firectl load-lora` does: POST deployedModels, then wait until it is DEPLOYED."""
    headers = {"Authorization": f"Bearer {fireworks.api_key}"}
    url = f"{fireworks.api_url}/accounts/{fireworks.account_id}/deployedModels"
    async with (
        aiohttp.ClientSession(headers=headers) as session,
        session.post(url, json={"model": model, "deployment": deployment}) as response,
    ):
        assert response.status == 200, await response.text()
        loaded = await response.json()
    fireworks.set_deployed_model(loaded["name"], "DEPLOYED")


def job_id(fireworks: FakeFireworks) -> str:
    return fireworks.latest_job()["name"].rsplit("/", 1)[-1]


async def ask(bot, slack, text: str) -> str:
    """Mention the bot and return the text of its answer."""
    before = len(bot_replies(slack))
    await bot.mention(text)
    return (await replies(slack, before + 1))[-1].text.strip()


async def test_fireworks_trains_loads_the_lora_on_the_deployment_and_the_bot_chats_with_it(
    start_bot, slack, openai_fake, fireworks, on_fireworks
):
    add_deployment(fireworks)
    bot = await start_bot(**on_fireworks(DEPLOYMENT))
    await seed_examples(bot, slack, 10)

    answer = await command(bot, slack, f"start provider=fw model={LLAMA} suffix=pirate")
    assert "Started fine-tuning job" in answer and "Fireworks AI (fw)" in answer
    [request] = fireworks.job_requests
    assert request["collection"] == "supervisedFineTuningJobs"
    body = request["body"]
    assert body["baseModel"] == LLAMA and body["epochs"] == 10
    assert body["displayName"].endswith(" pirate")
    [dataset_id] = fireworks.datasets
    assert body["dataset"] == f"accounts/acme/datasets/{dataset_id}"
    uploaded = fireworks.dataset_contents[dataset_id]
    job = job_id(fireworks)
    assert await bot.services.jobs.load_export(job, "training") == uploaded
    lines = [json.loads(line) for line in uploaded.decode().splitlines()]
    assert len(lines) == 10 and all(line["messages"][-1]["weight"] == 1 for line in lines)
    assert not openai_fake.job_requests and not openai_fake.files

    fireworks.set_job(job, "RUNNING")
    await eventually(lambda: status_says(slack, f"Fine-tuning {LLAMA}: running"))
    fireworks.set_job(job, "COMPLETED", jobProgress={"percent": 100, "inputTokens": "12345"})
    [announcement] = await eventually(lambda: announcements(slack))
    tuned = f"accounts/acme/models/{job}"
    assert f"`{tuned}#{DEPLOYMENT}`" in announcement and "12,345" in announcement
    [loaded] = fireworks.deployed_models.values()
    assert loaded["model"] == tuned and loaded["deployment"] == DEPLOYMENT
    assert loaded["state"] == "DEPLOYED"

    chats_on_openai = len(openai_fake.chat_requests)
    assert await ask(bot, slack, "and now?") == f"Reply from {tuned}#{DEPLOYMENT}"
    [chat] = fireworks.chat_requests
    assert chat["model"] == f"{tuned}#{DEPLOYMENT}"
    assert chat["messages"][-1]["content"] == "and now?"
    assert len(openai_fake.chat_requests) == chats_on_openai


async def test_without_a_deployment_a_glm_lora_is_served_serverless(
    start_bot, slack, fireworks, on_fireworks
):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    await command(bot, slack, f"start provider=fw model={GLM}")
    job = job_id(fireworks)
    fireworks.set_job(job, "COMPLETED")

    [announcement] = await eventually(lambda: announcements(slack))
    tuned = f"accounts/acme/models/{job}"
    assert f"`{tuned}`" in announcement
    [loaded] = fireworks.deployed_models.values()
    assert loaded["model"] == tuned and loaded["serverless"] is True

    assert await ask(bot, slack, "and now?") == f"Reply from {tuned}"
    assert [chat["model"] for chat in fireworks.chat_requests] == [tuned]


async def test_a_lora_that_needs_a_dedicated_deployment_says_how_to_serve_it(
    start_bot, slack, fireworks, on_fireworks
):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    await command(bot, slack, f"start provider=fw model={LLAMA}")
    job = job_id(fireworks)
    fireworks.set_job(job, "COMPLETED")

    [told] = await eventually(lambda: said(slack, "I keep the current model"))
    tuned = f"accounts/acme/models/{job}"
    assert "only on a dedicated deployment" in told, told
    # `<id>` is escaped for Slack, which shows it as written instead of as a link.
    assert f"`firectl load-lora {tuned} --deployment &lt;id&gt;`" in told
    assert f"`/finetune use {tuned} provider=fw`" in told
    assert 'set `deployment = "accounts/acme/deployments/&lt;id&gt;"`' in told
    assert not fireworks.deployed_models
    assert await bot.services.switcher.current() == bot.settings.chat_model

    # Following the advice serves it: load the LoRA as firectl does, then switch to it.
    add_deployment(fireworks)
    await load_lora(fireworks, tuned, DEPLOYMENT)
    assert "switched me to" in await command(bot, slack, f"use {tuned} provider=fw")
    assert await ask(bot, slack, "and now?") == f"Reply from {tuned}"


async def test_a_job_whose_creation_answer_was_lost_is_found_and_not_created_twice(
    start_bot, slack, fireworks, on_fireworks
):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    fireworks.fail_next_create()

    answer = await command(bot, slack, f"start provider=fw model={GLM}")
    assert "Started fine-tuning job" in answer, answer
    assert len(fireworks.jobs) == 1 and len(fireworks.job_requests) == 1
    job = job_id(fireworks)
    assert job in await command(bot, slack, "status")

    fireworks.set_job(job, "COMPLETED")
    [announcement] = await eventually(lambda: announcements(slack))
    assert f"accounts/acme/models/{job}" in announcement
    assert len(fireworks.jobs) == 1


async def test_a_failed_fireworks_job_keeps_the_model_and_says_why(
    start_bot, slack, fireworks, on_fireworks
):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    await command(bot, slack, f"start provider=fw model={LLAMA}")
    job = job_id(fireworks)
    fireworks.set_job(
        job, "FAILED", status={"code": "INVALID_ARGUMENT", "message": "Dataset has no messages"}
    )

    [announcement] = await eventually(lambda: announcements(slack))
    assert "failed" in announcement and "Dataset has no messages" in announcement
    assert await bot.services.switcher.current() == bot.settings.chat_model
    assert not fireworks.deployed_models


async def test_cancel_asks_fireworks_to_cancel_the_job(start_bot, slack, fireworks, on_fireworks):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    await command(bot, slack, f"start provider=fw model={LLAMA}")
    job = job_id(fireworks)
    fireworks.set_job(job, "RUNNING")

    answer = await command(bot, slack, "cancel")
    assert f"Asked Fireworks AI (fw) to cancel job `{job}`" in answer
    assert fireworks.job(job)["state"] == "JOB_STATE_CANCELLED"
    [announcement] = await eventually(lambda: announcements(slack))
    assert "cancelled" in announcement
    assert "No fine-tuning job is running" in await command(bot, slack, "cancel")


async def test_status_shows_the_progress_fireworks_reports(
    start_bot, slack, fireworks, on_fireworks
):
    bot = await start_bot(**on_fireworks())
    await seed_examples(bot, slack, 10)
    await command(bot, slack, f"start provider=fw model={LLAMA}")
    job = job_id(fireworks)
    fireworks.set_job(job, "RUNNING", jobProgress={"percent": 40, "epoch": 4})

    await eventually(lambda: status_says(slack, "40% (step 40 of 100)"))
    status = await command(bot, slack, "status")
    assert f"Fine-tuning {LLAMA}: running" in status and job in status
    assert "40% (step 40 of 100)" in status
