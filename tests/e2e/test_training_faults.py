"""OpenAI failing on upload, job creation and job reads: nothing half-created, no job twice."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.test_finetune import FAST, announcements, command, eventually, seed_examples
from tests.fakes.openai_faults import FaultyOpenAI

JOBS = "/v1/fine_tuning/jobs"


@pytest.fixture
async def openai_fake() -> AsyncIterator[FaultyOpenAI]:
    fake = FaultyOpenAI()
    fake.hang_seconds = 3
    await fake.start()
    yield fake
    await fake.stop()


async def no_job_is_running(bot) -> bool:
    return (
        await bot.services.jobs.active_job_id() is None
        and await bot.services.jobs.lock_holder() is None
    )


async def test_a_failing_upload_leaves_no_running_job_and_a_retry_works(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    openai_fake.fail("POST", "/v1/files", 500, times=3)  # the SDK tries 3 times

    answer = await command(bot, slack, "start")
    assert "could not upload the file (HTTP 500)" in answer and "Nothing is running" in answer
    assert openai_fake.requests_to("POST", "/v1/files") == 3
    assert not openai_fake.jobs and await no_job_is_running(bot)

    assert "Started fine-tuning job" in await command(bot, slack, "start")
    assert len(openai_fake.jobs) == 1


async def test_a_created_job_whose_answer_was_lost_is_found_by_its_metadata(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    openai_fake.fail("POST", JOBS, "lost")

    answer = await command(bot, slack, "start")
    [job] = openai_fake.jobs.values()  # created once, never retried blindly
    assert f"Started fine-tuning job `{job['id']}`" in answer
    assert openai_fake.requests_to("POST", JOBS) == 1
    assert await bot.services.jobs.active_job_id() == job["id"]

    openai_fake.set_job(job["id"], "succeeded")
    await eventually(lambda: announcements(slack))
    assert job["id"] in announcements(slack)[0]


async def test_a_job_creation_that_failed_is_not_retried_and_frees_the_lock(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    openai_fake.fail("POST", JOBS, 500)

    answer = await command(bot, slack, "start")
    assert "could not start the job (HTTP 500)" in answer and "Nothing is running" in answer
    assert openai_fake.requests_to("POST", JOBS) == 1 and not openai_fake.jobs
    assert await no_job_is_running(bot)


async def test_a_job_creation_timeout_is_reported_and_nothing_runs(start_bot, slack, openai_fake):
    bot = await start_bot(openai_timeout_seconds=1, **FAST)
    await seed_examples(bot, slack, 10)
    openai_fake.fail("POST", JOBS, "timeout")

    answer = await command(bot, slack, "start")
    assert "couldn't reach OpenAI to start the job" in answer
    assert not openai_fake.jobs and await no_job_is_running(bot)


async def test_an_unconfirmed_start_holds_the_lock_until_the_watcher_finds_the_job(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    openai_fake.fail("POST", JOBS, "lost")
    openai_fake.fail("GET", JOBS, 500, times=3)  # and the search for it fails too

    await bot.stop_watching()  # the recovery below is the watcher's, run by hand
    answer = await command(bot, slack, "start")
    assert "couldn't check whether the job was created" in answer
    assert "already" in await command(bot, slack, "start")  # no second paid job
    assert len(openai_fake.jobs) == 1

    await bot.services.watcher.recover_start()
    [job] = openai_fake.jobs.values()
    assert await bot.services.jobs.active_job_id() == job["id"]
    said = [c.params["text"] for c in slack.calls_to("chat.postMessage")]
    assert any("did create job" in text and job["id"] in text for text in said)


async def test_job_reads_that_fail_or_come_back_broken_are_retried_on_the_next_poll(
    start_bot, slack, openai_fake
):
    bot = await start_bot(**FAST)
    await seed_examples(bot, slack, 10)
    await command(bot, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    path = f"{JOBS}/{job_id}"
    openai_fake.fail("GET", path, "malformed", times=3)
    openai_fake.fail("GET", path, 429, times=3)

    openai_fake.set_job(job_id, "succeeded")
    await eventually(lambda: announcements(slack))
    assert openai_fake.requests_to("GET", path) > 6
    assert await bot.services.switcher.current() == openai_fake.latest_job()["fine_tuned_model"]


async def test_the_only_process_restarted_during_a_job_resumes_watching(
    start_bot, slack, openai_fake
):
    first = await start_bot(**FAST)
    await seed_examples(first, slack, 10)
    await command(first, slack, "start")
    job_id = openai_fake.latest_job()["id"]
    await first.stop()

    openai_fake.set_job(job_id, "succeeded")
    await start_bot(**FAST)
    await eventually(lambda: announcements(slack))
    assert len(announcements(slack)) == 1
