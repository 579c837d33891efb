"""LocalTrainer against real Redis and a local fake vLLM: jobs queue, adapters get served."""

import json
from pathlib import Path

import pytest
from openai import AsyncOpenAI, NotFoundError
from redis.asyncio import Redis

from bot.trainers.base import JobGone, JobSpec, TrainerError, Unreachable
from bot.trainers.local import NO_WORKER, WORKER_GONE, LocalTrainer
from storage.gpu_queue import GpuQueue
from tests.conftest import free_port
from tests.fakes.vllm_api import FakeVLLM
from tests.worker.by_hand import HandWorker

API_KEY = "vllm-key"


@pytest.fixture
async def gpu(redis_url):
    queue = GpuQueue(Redis.from_url(redis_url), "test")
    yield queue
    await queue.close()


@pytest.fixture
async def vllm():
    async with FakeVLLM("tiny-base", api_key=API_KEY) as server:
        yield server


@pytest.fixture
def trainer(gpu, vllm):
    return LocalTrainer(gpu, chat_base_url=vllm.base_url, chat_api_key=API_KEY, models_dir=None)


@pytest.fixture
def worker(gpu):
    """The worker's side of the contract, played by hand."""
    return HandWorker(gpu)


def spec(file_id: str, ref: str = "job-ref-1") -> JobSpec:
    return JobSpec(
        ref=ref,
        base_model="tiny-base",
        epochs=3,
        suffix="support",
        training_file=file_id,
        validation_file=None,
        dataset_sha256="abc",
        bot="test",
    )


def adapter_dir(root: Path, name: str) -> Path:
    path = root / name
    path.mkdir(parents=True)
    (path / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    return path


async def succeed(worker: HandWorker, job_id: str, path: Path) -> None:
    job = await worker.take()
    assert job.key == job_id
    await worker.succeed(job, path)


async def test_the_backend_names_itself(trainer):
    assert (trainer.name, trainer.training_closes) == ("local", None)
    assert "local" in trainer.label


async def test_an_upload_keeps_the_bytes_for_the_worker(trainer, gpu, tmp_path):
    content = b'{"messages":[{"role":"user","content":"hi"}]}\n'
    (tmp_path / "train.jsonl").write_bytes(content)
    file_id = await trainer.upload(tmp_path / "train.jsonl", "train.jsonl")
    assert await gpu.load_file(file_id) == content


async def test_creating_a_job_queues_it_and_says_no_worker_is_running(trainer):
    progress = await trainer.create_job(spec("localfile-1"))
    assert progress.status == "queued"
    assert progress.events[0] == NO_WORKER
    assert progress.events[1].startswith("Job queued")


async def test_a_queued_job_with_a_live_worker_just_waits(trainer, worker):
    await worker.report_in()
    progress = await trainer.create_job(spec("localfile-1"))
    assert NO_WORKER not in progress.events


async def test_creating_the_same_job_twice_creates_it_once(trainer):
    first = await trainer.create_job(spec("localfile-1"))
    second = await trainer.create_job(spec("localfile-1"))
    assert second.id == first.id
    assert (await trainer.find_job(spec("localfile-1"))).id == first.id
    assert await trainer.find_job(spec("localfile-1", ref="never-created")) is None


async def test_progress_reads_what_the_worker_wrote(trainer, worker, gpu):
    job = await trainer.create_job(spec("localfile-1"))
    await worker.report_in()
    await worker.take()
    await gpu.record(
        job.id, "Training 2/6 steps, loss 2.31", step=2, total_steps=6, train_loss=2.31
    )
    progress = await trainer.job(job.id)
    assert (progress.status, progress.step, progress.total_steps, progress.train_loss) == (
        "running",
        2,
        6,
        2.31,
    )
    assert progress.events[0] == "Training 2/6 steps, loss 2.31"


async def test_a_running_job_whose_worker_died_says_so(trainer, worker, gpu):
    job = await trainer.create_job(spec("localfile-1"))
    await worker.report_in()
    await worker.take()
    await gpu.leave(worker.id)  # its worker info ran out
    assert (await trainer.job(job.id)).events[0] == WORKER_GONE


async def test_cancel_stops_a_queued_job(trainer):
    job = await trainer.create_job(spec("localfile-1"))
    await trainer.cancel(job.id)
    assert (await trainer.job(job.id)).status == "cancelled"


async def test_an_unknown_job_is_gone(trainer):
    with pytest.raises(JobGone):
        await trainer.job("localjob-000000")
    with pytest.raises(JobGone):
        await trainer.cancel("localjob-000000")


async def test_serving_loads_the_adapter_and_chat_then_uses_it(trainer, worker, vllm, tmp_path):
    job = await trainer.create_job(spec("localfile-1"))
    path = adapter_dir(tmp_path, "support-1a2b3c4d")
    await succeed(worker, job.id, path)
    progress = await trainer.job(job.id)
    assert (progress.status, progress.output_model, progress.trained_tokens) == (
        "succeeded",
        "support-1a2b3c4d",
        1200,
    )

    model = await trainer.serving_model(progress)

    assert model == "support-1a2b3c4d"
    assert vllm.adapters == {model: str(path)}
    assert vllm.load_requests[0].authorization == f"Bearer {API_KEY}"
    chat = AsyncOpenAI(base_url=vllm.base_url, api_key=API_KEY)
    reply = await chat.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hi"}]
    )
    assert (reply.model, reply.choices[0].message.content) == (model, f"Reply from {model}")
    with pytest.raises(NotFoundError):
        await chat.chat.completions.create(
            model="support-unknown", messages=[{"role": "user", "content": "hi"}]
        )


async def test_serving_an_adapter_already_loaded_is_fine(trainer, worker, vllm, tmp_path):
    job = await trainer.create_job(spec("localfile-1"))
    await succeed(worker, job.id, adapter_dir(tmp_path, "support-1"))
    progress = await trainer.job(job.id)
    assert await trainer.serving_model(progress) == "support-1"
    assert await trainer.serving_model(progress) == "support-1"  # e.g. a second replica
    assert len(vllm.load_requests) == 2


async def test_the_models_dir_says_where_the_server_sees_adapters(gpu, worker, vllm, tmp_path):
    served = tmp_path / "as-vllm-sees-it"
    adapter_dir(served, "support-1")
    trainer = LocalTrainer(
        gpu,
        chat_base_url=vllm.base_url,
        chat_api_key=API_KEY,
        models_dir=served,
    )
    job = await trainer.create_job(spec("localfile-1"))
    await succeed(worker, job.id, tmp_path / "worker-path" / "support-1")
    await trainer.serving_model(await trainer.job(job.id))
    assert vllm.adapters == {"support-1": str(served / "support-1")}


async def test_a_server_without_runtime_loras_gets_the_command_to_serve_it(gpu, worker, tmp_path):
    async with FakeVLLM("tiny-base", runtime_lora_updating=False) as vllm:
        trainer = LocalTrainer(gpu, chat_base_url=vllm.base_url)
        job = await trainer.create_job(spec("localfile-1"))
        path = adapter_dir(tmp_path, "support-1")
        await succeed(worker, job.id, path)
        with pytest.raises(TrainerError) as refused:
            await trainer.serving_model(await trainer.job(job.id))
    message = str(refused.value)
    assert str(path) in message
    assert f"vllm serve tiny-base --enable-lora --lora-modules support-1={path}" in message
    assert "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True" in message


async def test_a_server_that_is_down_gets_a_sentence_too(gpu, worker, tmp_path):
    trainer = LocalTrainer(gpu, chat_base_url=f"http://127.0.0.1:{free_port()}/v1")
    job = await trainer.create_job(spec("localfile-1"))
    await succeed(worker, job.id, adapter_dir(tmp_path, "support-1"))
    with pytest.raises(TrainerError, match="did not answer"):
        await trainer.serving_model(await trainer.job(job.id))


async def test_redis_down_is_unreachable_not_a_crash(tmp_path):
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    trainer = LocalTrainer(GpuQueue(down, "test"), chat_base_url="http://127.0.0.1:9/v1")
    with pytest.raises(Unreachable):
        await trainer.create_job(spec("localfile-1"))
    with pytest.raises(Unreachable):
        (tmp_path / "train.jsonl").write_bytes(b"{}")
        await trainer.upload(tmp_path / "train.jsonl", "train.jsonl")
    await trainer.close()
