"""Checks that the real openai SDK works end to end against FakeOpenAI."""

from __future__ import annotations

import json

import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes.openai_api import FakeOpenAI

TRAINING_DATA = b'{"messages": [{"role": "user", "content": "hi"}]}\n'


@pytest.fixture
async def fake():
    async with FakeOpenAI() as server:
        yield server


@pytest.fixture
async def client(fake: FakeOpenAI):
    # No retries: injected faults should surface at once, not after backoff.
    async with AsyncOpenAI(api_key="sk-test", base_url=fake.base_url, max_retries=0) as sdk:
        yield sdk


async def upload_training_file(client: AsyncOpenAI) -> str:
    created = await client.files.create(file=("train.jsonl", TRAINING_DATA), purpose="fine-tune")
    return created.id


async def test_chat_default_and_custom_replies(fake: FakeOpenAI, client: AsyncOpenAI):
    messages = [{"role": "user", "content": "hello there"}]

    first = await client.chat.completions.create(model="gpt-test", messages=messages)
    fake.reply = lambda request: "echo: " + request["messages"][-1]["content"]
    second = await client.chat.completions.create(model="gpt-test", messages=messages)

    assert first.choices[0].message.content == "Reply 1"
    assert first.model == "gpt-test"
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    assert second.choices[0].message.content == "echo: hello there"
    assert fake.chat_requests[0]["messages"] == messages


async def test_chat_500_raises_internal_server_error(fake: FakeOpenAI, client: AsyncOpenAI):
    fake.fail_chat(status=500)

    with pytest.raises(openai.InternalServerError) as err:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    assert err.value.status_code == 500
    assert err.value.type == "server_error"
    reply = await client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "x"}]
    )
    assert reply.choices[0].message.content == "Reply 2"


async def test_chat_malformed_body_raises_json_error(fake: FakeOpenAI, client: AsyncOpenAI):
    fake.fail_chat(status="malformed")

    # The SDK does not wrap this in an OpenAIError; callers see the raw decode error.
    with pytest.raises(json.JSONDecodeError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])


async def test_wrong_api_key_is_rejected(fake: FakeOpenAI):
    async with AsyncOpenAI(api_key="sk-wrong", base_url=fake.base_url, max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError) as err:
            await bad.files.list()

    assert err.value.code == "invalid_api_key"
    assert "sk-wrong" not in str(err.value)


async def test_file_upload_and_processing(fake: FakeOpenAI, client: AsyncOpenAI):
    fake.file_processing_polls = 2
    created = await client.files.create(file=("train.jsonl", TRAINING_DATA), purpose="fine-tune")

    assert created.status == "uploaded"
    assert created.bytes == len(TRAINING_DATA)
    processed = await client.files.wait_for_processing(created.id, poll_interval=0.01)
    assert processed.status == "processed"
    assert fake.files[created.id].retrievals == 3
    assert fake.files[created.id].content == TRAINING_DATA
    content = await client.files.content(created.id)
    assert content.content == TRAINING_DATA


async def test_missing_file_is_404(client: AsyncOpenAI):
    with pytest.raises(openai.NotFoundError):
        await client.files.retrieve("file-nope")


async def test_fine_tuning_job_lifecycle(fake: FakeOpenAI, client: AsyncOpenAI):
    file_id = await upload_training_file(client)
    job = await client.fine_tuning.jobs.create(
        training_file=file_id,
        model="gpt-4o-mini-2024-07-18",
        suffix="team",
        metadata={"channel": "C1"},
        method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 3}}},
    )
    other = await client.fine_tuning.jobs.create(training_file=file_id, model="gpt-4o-mini")

    assert job.status == "validating_files"
    assert job.hyperparameters.n_epochs == 3
    assert fake.latest_job()["id"] == other.id
    assert fake.job_requests[0]["suffix"] == "team"

    fake.set_job(job.id, "succeeded", trained_tokens=1234)
    done = await client.fine_tuning.jobs.retrieve(job.id)
    assert done.status == "succeeded"
    assert done.fine_tuned_model.startswith("ft:gpt-4o-mini-2024-07-18:fake-org:team:")
    assert done.finished_at is not None

    page = await client.fine_tuning.jobs.list(metadata={"channel": "C1"})
    assert [j.id for j in page.data] == [job.id]
    newest_first = [j.id async for j in client.fine_tuning.jobs.list(limit=1)]
    assert newest_first == [other.id, job.id]

    cancelled = await client.fine_tuning.jobs.cancel(other.id)
    assert cancelled.status == "cancelled"


async def test_job_events_newest_first(fake: FakeOpenAI, client: AsyncOpenAI):
    job = await client.fine_tuning.jobs.create(
        training_file=await upload_training_file(client), model="gpt-4o-mini"
    )
    for step in (1, 2):
        fake.add_job_event(
            job.id,
            f"Step {step}/2",
            type="metrics",
            data={"step": step, "total_steps": 2, "train_loss": 1.0 / step},
        )

    page = await client.fine_tuning.jobs.list_events(job.id, limit=2)

    assert [e.message for e in page.data] == ["Step 2/2", "Step 1/2"]
    assert page.data[0].data["train_loss"] == 0.5
    assert page.has_more  # the "Created fine-tuning job" event is older


async def test_training_refused_is_permission_denied(fake: FakeOpenAI, client: AsyncOpenAI):
    file_id = await upload_training_file(client)
    fake.refuse_training = True

    with pytest.raises(openai.PermissionDeniedError) as err:
        await client.fine_tuning.jobs.create(training_file=file_id, model="gpt-4o-mini")

    assert err.value.code == "training_not_available"
    assert "no longer available" in err.value.message


async def test_job_create_validates_files(fake: FakeOpenAI, client: AsyncOpenAI):
    with pytest.raises(openai.BadRequestError) as err:
        await client.fine_tuning.jobs.create(training_file="file-missing", model="m")
    assert err.value.code == "invalid_file"

    file_id = await upload_training_file(client)
    fake.file_not_ready_times = 1
    with pytest.raises(openai.BadRequestError) as err:
        await client.fine_tuning.jobs.create(training_file=file_id, model="m")
    assert err.value.code == "file_not_ready"
    assert (await client.fine_tuning.jobs.create(training_file=file_id, model="m")).id


async def test_forgotten_job_is_404(fake: FakeOpenAI, client: AsyncOpenAI):
    job = await client.fine_tuning.jobs.create(
        training_file=await upload_training_file(client), model="m"
    )
    fake.forget_job(job.id)

    with pytest.raises(openai.NotFoundError):
        await client.fine_tuning.jobs.retrieve(job.id)
