"""The local backend really trains: a tiny random model, a few LoRA steps on CPU, via Redis.

The bot's side (LocalTrainer) uploads our exported JSONL and queues the job; the worker
(`python -m worker --once`, a separate process, or the same loop in-process) trains it with
TRL + PEFT and writes an adapter that loads back and that the fake vLLM then serves.
"""

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.trainers.base import JobSpec
from bot.trainers.local import LocalTrainer
from storage.gpu_queue import GpuQueue
from tests.conftest import needs
from tests.fakes.vllm_api import FakeVLLM
from tests.worker.conftest import example_lines, to_jsonl
from worker.config import load_settings
from worker.loop import Worker

pytestmark = [pytest.mark.slow, needs("trl")]

REPO = Path(__file__).resolve().parents[2]
TINY_TRAINING = {
    "REDIS_PREFIX": "test",
    "LORA_R": "4",
    "LORA_ALPHA": "8",
    "LEARNING_RATE": "0.01",
    "MAX_SEQ_LENGTH": "128",
    "BATCH_SIZE": "2",
    "POLL_SECONDS": "1",
}


@pytest.fixture
async def gpu(redis_url):
    queue = GpuQueue(Redis.from_url(redis_url), "test")
    yield queue
    await queue.close()


@pytest.fixture
async def vllm(tiny_base):
    async with FakeVLLM(str(tiny_base)) as server:
        yield server


@pytest.fixture
def trainer(gpu, vllm):
    return LocalTrainer(gpu, chat_base_url=vllm.base_url)


async def queue_job(trainer: LocalTrainer, base: Path, examples: int, epochs: int) -> str:
    upload = base.parent / f"upload-{time.monotonic_ns()}.jsonl"
    upload.write_bytes(to_jsonl(example_lines(examples)))
    file_id = await trainer.upload(upload, "train.jsonl")
    spec = JobSpec(
        ref=f"ref-{time.monotonic_ns()}",
        base_model=str(base),
        epochs=epochs,
        suffix="Team Tone!",
        training_file=file_id,
        validation_file=None,
        dataset_sha256="sha",
        bot="test",
    )
    return (await trainer.create_job(spec)).id


def lora_b_weights(model) -> list:
    return [p for name, p in model.named_parameters() if "lora_B" in name]


async def test_the_worker_process_trains_an_adapter_that_loads_back_and_is_served(
    trainer, vllm, tiny_base, redis_url, tmp_path
):
    job_id = await queue_job(trainer, tiny_base, examples=6, epochs=2)
    models = tmp_path / "models"
    env = {
        **os.environ,
        **TINY_TRAINING,
        "REDIS_URL": redis_url,
        "LOCAL_MODELS_DIR": str(models),
        "WORKER_ID": "test-worker",
    }

    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "worker",
        "--once",
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(worker.communicate(), timeout=240)
    assert worker.returncode == 0, output.decode()[-3000:]

    progress = await trainer.job(job_id)
    assert progress.status == "succeeded", (progress.error, output.decode()[-3000:])
    assert progress.output_model == f"team-tone-{job_id.removeprefix('localjob-')[:8]}"
    assert progress.step == progress.total_steps == 6  # 6 examples, batch 2, 2 epochs
    assert progress.train_loss is not None and progress.trained_tokens > 0
    assert any(event.startswith("Training 6/6 steps, loss") for event in progress.events)

    adapter = models / progress.output_model
    assert (adapter / "adapter_config.json").is_file()
    assert (adapter / "adapter_model.safetensors").is_file()
    assert not list(models.glob("*.partial"))

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_base), adapter)
    weights = lora_b_weights(tuned)
    assert weights and all(w.abs().sum() > 0 for w in weights)  # LoRA B starts at zero

    assert await trainer.serving_model(progress) == progress.output_model
    assert vllm.adapters == {progress.output_model: str(adapter.resolve())}


async def test_a_cancel_stops_training_at_the_next_step(
    trainer, redis_url, tiny_base, tmp_path, monkeypatch
):
    from worker.training import train

    job_id = await queue_job(trainer, tiny_base, examples=8, epochs=50)  # 200 steps
    for name, value in TINY_TRAINING.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(redis_url=redis_url, local_models_dir=tmp_path / "models")
    running = asyncio.create_task(Worker(settings, train).run(once=True))

    deadline = time.monotonic() + 60
    while (await trainer.job(job_id)).step in (None, 0):
        assert time.monotonic() < deadline and not running.done()
        await asyncio.sleep(0.05)
    await trainer.cancel(job_id)
    await asyncio.wait_for(running, timeout=60)

    progress = await trainer.job(job_id)
    assert progress.status == "cancelled"
    assert progress.step < 200
    assert progress.events[0].startswith("Cancelled at step")
    assert not (tmp_path / "models").exists() or not list((tmp_path / "models").iterdir())


async def test_a_base_model_that_is_not_there_fails_with_one_sentence(
    trainer, redis_url, tmp_path, monkeypatch
):
    from worker.training import train

    job_id = await queue_job(trainer, tmp_path / "no-such-model", examples=2, epochs=1)
    for name, value in TINY_TRAINING.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(redis_url=redis_url, local_models_dir=tmp_path / "models")
    await Worker(settings, train).run(once=True)

    progress = await trainer.job(job_id)
    assert progress.status == "failed"
    assert progress.error.startswith("The worker can't load the base model")
    assert "Traceback" not in progress.error and progress.error.count(". ") == 0


async def test_a_worker_told_to_stop_hands_its_job_back(
    trainer, gpu, redis_url, tiny_base, tmp_path, monkeypatch
):
    from worker.training import train

    job_id = await queue_job(trainer, tiny_base, examples=8, epochs=50)
    for name, value in TINY_TRAINING.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(redis_url=redis_url, local_models_dir=tmp_path / "models")
    worker = Worker(settings, train)
    running = asyncio.create_task(worker.run())

    deadline = time.monotonic() + 60
    while (await trainer.job(job_id)).step in (None, 0):
        assert time.monotonic() < deadline and not running.done()
        await asyncio.sleep(0.05)
    worker.stop()  # what SIGTERM does
    await asyncio.wait_for(running, timeout=60)

    progress = await trainer.job(job_id)
    assert progress.status == "queued"
    assert "queued again" in progress.events[1]  # [0]: no worker is running any more
    assert await gpu.saq.count("queued") == 1
    assert (await gpu.get(job_id)).attempts == 0  # stopping on purpose is not counted


async def test_of_two_workers_one_killed_mid_job_the_other_trains_it_to_the_end(
    trainer, gpu, redis_url, tiny_base, tmp_path
):
    job_id = await queue_job(trainer, tiny_base, examples=8, epochs=10)  # 40 steps
    env = {
        **os.environ,
        **TINY_TRAINING,
        "REDIS_URL": redis_url,
        "LOCAL_MODELS_DIR": str(tmp_path / "models"),
        "HEARTBEAT_SECONDS": "2",
        "SWEEP_SECONDS": "1",
    }
    workers = {
        name: await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "worker",
            cwd=REPO,
            env={**env, "WORKER_ID": name},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in ("gpu-a", "gpu-b")
    }
    try:
        deadline = time.monotonic() + 120
        while not (progress := await gpu.get(job_id)).step:
            assert time.monotonic() < deadline, progress
            await asyncio.sleep(0.1)
        killed = progress.worker
        [survivor] = set(workers) - {killed}
        workers[killed].kill()  # SIGKILL: no goodbye, its heartbeat just stops
        await workers[killed].wait()

        deadline = time.monotonic() + 180
        while not (progress := await gpu.get(job_id)).is_finished:
            assert time.monotonic() < deadline, progress
            await asyncio.sleep(0.2)
    finally:
        for process in workers.values():
            if process.returncode is None:
                process.terminate()
                await process.wait()

    assert (progress.status, progress.worker, progress.attempts) == ("succeeded", survivor, 2)
    assert progress.step == progress.total_steps == 40
    events = await gpu.events(job_id, limit=50)
    assert f"Worker {killed} started the job." in events
    assert f"Worker {survivor} started the job." in events
    assert (tmp_path / "models" / progress.output_model / "adapter_config.json").is_file()
