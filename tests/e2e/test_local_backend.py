"""A team's own GPU, end to end: /finetune start queues the job, `python -m worker` trains a
LoRA adapter on a tiny random model (CPU here), the bot loads it into vLLM and chats with it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import needs
from tests.e2e.test_finetune import FAST, announcements, command, eventually, seed_examples
from tests.fakes.vllm_api import FakeVLLM
from tests.worker.conftest import example_lines
from tests.worker.tiny_model import build_tiny_model

pytestmark = [pytest.mark.slow, needs("trl")]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory) -> Path:
    """A randomly initialised chat model built from a config: nothing is downloaded."""
    texts = [m["content"] for line in example_lines(4) for m in line["messages"]]
    return build_tiny_model(tmp_path_factory.mktemp("tiny-base"), texts)


@pytest.fixture
async def vllm(tiny_base):
    async with FakeVLLM(str(tiny_base)) as server:
        yield server


async def test_the_curated_dataset_trains_on_the_local_worker_and_the_bot_swaps_to_it(
    start_bot, slack, openai_fake, vllm, tiny_base, redis_url, tmp_path
):
    bot = await start_bot(
        train_backend="local",
        chat_base_url=vllm.base_url,
        chat_api_key="local",
        chat_model=str(tiny_base),
        finetune_base_model=str(tiny_base),
        local_models_dir=tmp_path / "models",
        **FAST,
    )
    await seed_examples(bot, slack, 10)
    assert vllm.chat_requests and not openai_fake.chat_requests

    answer = await command(bot, slack, "start epochs=1 suffix=crew")
    assert "with the local GPU worker" in answer and not openai_fake.files

    await run_worker_once(bot, redis_url, tmp_path / "models", BATCH_SIZE="2")

    await eventually(lambda: announcements(slack), timeout=15)
    [adapter] = vllm.adapters
    assert adapter.startswith("crew-") and adapter in announcements(slack)[0]
    assert vllm.adapters[adapter] == str((tmp_path / "models" / adapter).resolve())

    await bot.mention("and now?")
    await eventually(lambda: vllm.chat_requests[-1]["messages"][-1]["content"] == "and now?")
    assert vllm.chat_requests[-1]["model"] == adapter


async def run_worker_once(bot, redis_url: str, models_dir: Path, timeout: float = 240, **knobs):
    """`python -m worker --once` against this bot's Redis, with the worker's settings `knobs`
    (LORA_R="8"…); fails the test with the worker's output if it does not finish cleanly."""
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        "--once",
        cwd=REPO,
        env={
            **os.environ,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": bot.settings.redis_prefix,
            "LOCAL_MODELS_DIR": str(models_dir),
            "MAX_SEQ_LENGTH": "256",
            "HF_HUB_OFFLINE": "1",
            **knobs,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(worker.communicate(), timeout=timeout)
    assert worker.returncode == 0, output.decode()[-3000:]
