"""The bot–worker contract in real Redis: queue, claim, progress, cancel, requeue on death."""

import pytest
from redis.asyncio import Redis

from storage.keys import Keys
from storage.local_jobs import (
    DIED_TOO_OFTEN,
    MAX_ATTEMPTS,
    LocalJob,
    LocalJobStore,
    new_job_id,
)
from storage.schemas import utcnow


@pytest.fixture
async def redis(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def store(redis):
    return LocalJobStore(redis, Keys("test"))


def draft(ref: str = "ref-1") -> LocalJob:
    now = utcnow()
    return LocalJob(
        id=new_job_id(),
        ref=ref,
        base_model="/models/base",
        epochs=2,
        suffix="support",
        training_file="localfile-1",
        created_at=now,
        updated_at=now,
    )


async def running(store: LocalJobStore, worker: str = "w1") -> LocalJob:
    job = await store.create(draft())
    await store.beat(worker)
    assert await store.take(worker, 1) == job.id
    assert await store.claim(job.id, worker) == "run"
    return job


async def test_a_file_comes_back_byte_for_byte(store):
    content = '{"messages":[{"role":"user","content":"héllo"}]}\n'.encode() * 100
    file_id = await store.save_file(content, "train.jsonl")
    assert await store.load_file(file_id) == content
    assert await store.load_file("localfile-unknown") is None


async def test_creating_twice_with_one_ref_queues_one_job(store, redis):
    first = await store.create(draft("same"))
    second = await store.create(draft("same"))
    assert second.id == first.id
    assert await redis.lrange(Keys("test").local_queue, 0, -1) == [first.id]
    assert (await store.find_by_ref("same")).id == first.id
    assert await store.find_by_ref("other") is None


async def test_a_worker_takes_the_oldest_job_first(store):
    first = await store.create(draft("a"))
    await store.create(draft("b"))
    await store.beat("w1")
    assert await store.take("w1", 1) == first.id


async def test_claiming_starts_the_job_and_progress_is_recorded(store):
    job = await running(store)
    assert (
        await store.progress(
            job.id, "w1", event="Training 1/4 steps", step=1, total_steps=4, train_loss=2.5
        )
        == "continue"
    )
    stored = await store.get(job.id)
    assert (stored.status, stored.worker, stored.attempts) == ("running", "w1", 1)
    assert (stored.step, stored.total_steps, stored.train_loss) == (1, 4, 2.5)
    events = await store.events(job.id)
    assert events[0] == "Training 1/4 steps"
    assert events[-1].startswith("Job queued")


async def test_finishing_records_the_adapter_and_leaves_the_processing_list(store, redis):
    job = await running(store)
    assert await store.finish(
        job.id,
        "w1",
        "succeeded",
        "Adapter saved.",
        output_model="support-abc",
        adapter_path="/m/support-abc",
    )
    stored = await store.get(job.id)
    assert (stored.status, stored.output_model, stored.adapter_path) == (
        "succeeded",
        "support-abc",
        "/m/support-abc",
    )
    assert stored.finished_at is not None
    assert await redis.llen(Keys("test").local_processing("w1")) == 0
    # A final state is final: a late second finish changes nothing.
    assert not await store.finish(job.id, "w1", "failed", "late", error="late")
    assert (await store.get(job.id)).status == "succeeded"


async def test_cancelling_a_queued_job_cancels_it_at_once(store, redis):
    job = await store.create(draft())
    assert await store.cancel(job.id) == "cancelled"
    assert (await store.get(job.id)).status == "cancelled"
    assert await redis.llen(Keys("test").local_queue) == 0


async def test_cancelling_a_running_job_tells_the_worker_at_its_next_step(store):
    job = await running(store)
    assert await store.cancel(job.id) == "requested"
    assert (await store.get(job.id)).status == "running"
    assert await store.progress(job.id, "w1", step=2) == "cancel"


async def test_a_job_cancelled_while_being_taken_is_not_trained(store):
    job = await store.create(draft())
    await store.beat("w1")
    assert await store.take("w1", 1) == job.id
    assert await store.cancel(job.id) == "cancelled"  # the worker has not claimed it yet
    assert await store.claim(job.id, "w1") == "skip"


async def test_cancelling_an_unknown_job_says_it_is_gone(store):
    assert await store.cancel("localjob-nope") == "gone"


async def test_a_dead_workers_job_is_queued_again_for_the_next_worker(store, redis):
    job = await store.create(draft())
    await store.beat("dead", ttl=0.05)
    assert await store.take("dead", 1) == job.id
    assert await store.claim(job.id, "dead") == "run"
    await redis.delete(Keys("test").local_worker("dead"))  # its heartbeat expired

    assert await store.requeue_dead_workers() == [job.id]
    stored = await store.get(job.id)
    assert stored.status == "queued"
    assert "dead stopped answering" in (await store.events(job.id))[0]
    # The dead worker can no longer write: the job is not its own any more.
    assert await store.progress(job.id, "dead", step=3) == "lost"

    await store.beat("w2")
    assert await store.take("w2", 1) == job.id
    assert await store.claim(job.id, "w2") == "run"
    assert (await store.get(job.id)).attempts == 2


async def test_a_live_workers_job_is_left_alone(store):
    job = await running(store, "alive")
    assert await store.requeue_dead_workers() == []
    assert (await store.get(job.id)).worker == "alive"


async def test_a_job_whose_worker_died_every_time_fails_with_a_sentence(store, redis):
    job = await store.create(draft())
    for attempt in range(MAX_ATTEMPTS):
        worker = f"w{attempt}"
        await store.beat(worker)
        assert await store.take(worker, 1) == job.id
        assert await store.claim(job.id, worker) == "run"
        await redis.delete(Keys("test").local_worker(worker))
        assert await store.requeue_dead_workers() == [job.id]
    await store.beat("last")
    assert await store.take("last", 1) == job.id
    assert await store.claim(job.id, "last") == "failed"
    stored = await store.get(job.id)
    assert (stored.status, stored.error) == ("failed", DIED_TOO_OFTEN)


async def test_a_worker_stopping_on_purpose_hands_the_job_back_uncounted(store, redis):
    job = await running(store)
    assert await store.release(job.id, "w1", "Worker w1 stopped; queued again.")
    stored = await store.get(job.id)
    assert (stored.status, stored.attempts, stored.worker) == ("queued", 0, None)
    assert await redis.lrange(Keys("test").local_queue, 0, -1) == [job.id]


async def test_live_workers_are_those_with_a_heartbeat(store, redis):
    await store.beat("w1")
    await store.beat("w2")
    await redis.delete(Keys("test").local_worker("w2"))
    assert await store.live_workers() == ["w1"]
    await store.leave("w1")
    assert await store.live_workers() == []
