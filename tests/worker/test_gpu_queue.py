"""The GPU queue's contract on real Redis: what the bot reads of SAQ's jobs and our records."""

import asyncio

import pytest
from redis.asyncio import Redis

from storage.gpu_queue import DIED_TOO_OFTEN, GpuQueue, job_id_for
from tests.worker.by_hand import HandWorker

SPEC = {"base_model": "tiny-base", "epochs": 2, "training_file": "localfile-1"}


@pytest.fixture
async def gpu(redis_url):
    queue = GpuQueue(Redis.from_url(redis_url), "test")
    yield queue
    await queue.close()


async def test_a_file_comes_back_byte_for_byte(gpu):
    content = b'{"messages":[{"role":"user","content":"h\xc3\xa9"}]}\n' * 100
    file_id = await gpu.save_file(content, "train.jsonl")
    assert await gpu.load_file(file_id) == content
    assert await gpu.replace_file(file_id, b"shorter\n")
    assert await gpu.load_file(file_id) == b"shorter\n"
    await gpu.delete_file(file_id)
    assert await gpu.load_file(file_id) is None
    assert not await gpu.replace_file(file_id, b"back?")


async def test_creating_twice_with_one_ref_queues_one_job_even_after_it_finished(gpu, tmp_path):
    first = await gpu.create("same", SPEC)
    assert (await gpu.create("same", SPEC)).id == first.id == job_id_for("test", "same")
    assert await gpu.saq.count("queued") == 1
    assert (await gpu.find_by_ref("same")).base_model == "tiny-base"
    assert await gpu.find_by_ref("other") is None

    await HandWorker(gpu).succeed(await HandWorker(gpu).take(), tmp_path / "adapter")
    again = await gpu.create("same", SPEC)
    assert again.status == "succeeded" and await gpu.saq.count("queued") == 0


async def test_cancelling_a_queued_job_cancels_it_at_once(gpu):
    job = await gpu.create("r", SPEC)
    assert await gpu.cancel(job.id) == "cancelled"
    assert (await gpu.get(job.id)).status == "cancelled"
    assert (await gpu.events(job.id))[0] == "Cancelled before a worker started it."
    assert await gpu.saq.count("queued") == 0
    assert await gpu.cancel(job.id) == "cancelled"  # again: it says what it is


async def test_cancelling_a_running_job_asks_its_worker(gpu):
    job = await gpu.create("r", SPEC)
    await HandWorker(gpu).take()
    assert await gpu.cancel(job.id) == "requested"
    stored = await gpu.get(job.id)
    assert (stored.status, stored.cancel_requested) == ("running", True)
    assert (await gpu.events(job.id))[0].startswith("Cancel requested")


async def test_cancelling_an_unknown_job_says_it_is_gone(gpu):
    assert await gpu.cancel("localjob-nope") == "gone"


async def test_a_dead_workers_job_is_queued_again_then_fails_with_a_sentence(gpu):
    job = await gpu.create("r", SPEC)
    for worker in ("dead-1", "dead-2"):
        await HandWorker(gpu, worker).take(heartbeat=1)
        assert await gpu.holds(job.id, worker)
        await asyncio.sleep(1.1)  # no heartbeat comes
        await gpu.saq.redis.delete(gpu.saq.namespace("sweep"))  # the sweep's lock
        assert await gpu.saq.sweep(lock=1, abort=0.1)
        assert not await gpu.holds(job.id, worker)
        stored = await gpu.get(job.id)
        if worker == "dead-1":
            assert (stored.status, stored.attempts, stored.worker) == ("queued", 1, "dead-1")
    assert (stored.status, stored.error) == ("failed", DIED_TOO_OFTEN)


async def test_live_workers_are_those_that_reported_in(gpu):
    await HandWorker(gpu, "w1").report_in()
    await HandWorker(gpu, "w2").report_in()
    assert await gpu.live_workers() == ["w1", "w2"]
    await gpu.leave("w1")
    assert await gpu.live_workers() == ["w2"]


async def test_a_worker_whose_redis_is_down_says_why_without_the_url(tmp_path):
    from tests.conftest import free_port
    from worker.config import load_settings
    from worker.loop import Worker

    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    worker = Worker(load_settings(redis_url=url, local_models_dir=tmp_path), train=None)
    problem = await worker.reachable()
    assert problem is not None and "Connect call failed" in problem
    assert "hunter2" not in problem


async def test_taking_a_job_while_redis_is_down_waits_instead_of_spinning(redis_url):
    from tests.conftest import free_port

    down = GpuQueue(Redis.from_url(f"redis://127.0.0.1:{free_port()}/0"), "test")
    started = asyncio.get_running_loop().time()
    assert await down.saq.dequeue(timeout=1) is None
    assert asyncio.get_running_loop().time() - started >= 1.5  # a pause, not a busy retry
    await down.close()
