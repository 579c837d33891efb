"""Checks FakeFireworks over real HTTP: aiohttp for the control plane, the openai SDK for chat."""

from __future__ import annotations

import json

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from tests.fakes.fireworks_api import FakeFireworks

TRAINING_DATA = b"".join(
    json.dumps({"messages": [{"role": "user", "content": f"hi {n}"}]}).encode() + b"\n"
    for n in range(3)
)
BASE = "accounts/fireworks/models/qwen3-8b"
SERVERLESS_BASE = "accounts/fireworks/models/glm-5p3-flash"


@pytest.fixture
async def fake():
    async with FakeFireworks() as server:
        yield server


@pytest.fixture
async def http(fake: FakeFireworks):
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession(fake.api_url + "/", headers=headers) as session:
        yield session


@pytest.fixture
async def client(fake: FakeFireworks):
    async with AsyncOpenAI(api_key="fw-test", base_url=fake.inference_url, max_retries=0) as sdk:
        yield sdk


async def call(http: aiohttp.ClientSession, method: str, path: str, **kwargs) -> tuple[int, dict]:
    async with http.request(method, path.lstrip("/"), **kwargs) as response:
        return response.status, await response.json()


async def make_dataset(http: aiohttp.ClientSession, dataset_id: str = "train-1") -> str:
    body = {"datasetId": dataset_id, "dataset": {"userUploaded": {}}}
    status, created = await call(http, "POST", "accounts/acme/datasets", json=body)
    assert status == 200
    form = aiohttp.FormData()
    form.add_field("file", TRAINING_DATA, filename="train.jsonl")
    status, uploaded = await call(
        http, "POST", f"accounts/acme/datasets/{dataset_id}:upload", data=form
    )
    assert status == 200
    assert uploaded["bytes"] == len(TRAINING_DATA)
    return created["name"]


async def test_dataset_upload_becomes_ready_after_polls(fake: FakeFireworks, http):
    fake.dataset_ready_polls = 1
    name = await make_dataset(http)

    _, first = await call(http, "GET", "accounts/acme/datasets/train-1")
    _, second = await call(http, "GET", "accounts/acme/datasets/train-1")

    assert name == "accounts/acme/datasets/train-1"
    assert (first["state"], second["state"]) == ("UPLOADING", "READY")
    assert second["exampleCount"] == "3"
    assert fake.dataset_contents["train-1"] == TRAINING_DATA
    status, again = await call(
        http, "POST", "accounts/acme/datasets", json={"datasetId": "train-1", "dataset": {}}
    )
    assert (status, again["code"]) == (409, 6)


async def test_signed_url_upload_then_validate(fake: FakeFireworks, http):
    await call(http, "POST", "accounts/acme/datasets", json={"datasetId": "big", "dataset": {}})
    sizes = {"filenameToSize": {"big.jsonl": str(len(TRAINING_DATA))}}
    _, endpoint = await call(
        http, "POST", "accounts/acme/datasets/big:getUploadEndpoint", json=sizes
    )
    url = endpoint["filenameToSignedUrls"]["big.jsonl"]

    async with aiohttp.ClientSession() as anonymous, anonymous.put(url, data=TRAINING_DATA) as put:
        assert put.status == 200
    status, _ = await call(http, "POST", "accounts/acme/datasets/big:validateUpload", json={})

    assert status == 200
    assert fake.datasets["big"]["state"] == "READY"
    assert fake.dataset_contents["big"] == TRAINING_DATA


async def test_sft_job_lifecycle_and_listing(fake: FakeFireworks, http):
    dataset = await make_dataset(http)
    body = {"dataset": dataset, "baseModel": BASE, "outputModel": "tuned-1", "epochs": 2}

    status, job = await call(
        http,
        "POST",
        "accounts/acme/supervisedFineTuningJobs",
        params={"supervisedFineTuningJobId": "job-1"},
        json=body,
    )
    status_again, clash = await call(
        http,
        "POST",
        "accounts/acme/supervisedFineTuningJobs",
        params={"supervisedFineTuningJobId": "job-1"},
        json=body | {"outputModel": "tuned-2"},
    )

    assert status == 200
    assert job["name"] == "accounts/acme/supervisedFineTuningJobs/job-1"
    assert (job["state"], job["outputModel"]) == (
        "JOB_STATE_CREATING",
        "accounts/acme/models/tuned-1",
    )
    assert (status_again, clash["code"]) == (409, 6)
    assert fake.job_requests[0]["job_id"] == "job-1"

    fake.set_job("job-1", "RUNNING", jobProgress={"percent": 50, "epoch": 1})
    _, running = await call(http, "GET", "accounts/acme/supervisedFineTuningJobs/job-1")
    assert running["jobProgress"]["percent"] == 50
    fake.set_job("job-1", "COMPLETED")
    _, listing = await call(
        http, "GET", "accounts/acme/supervisedFineTuningJobs", params={"pageSize": "1"}
    )
    assert listing["supervisedFineTuningJobs"][0]["state"] == "JOB_STATE_COMPLETED"
    assert (listing["nextPageToken"], listing["totalSize"]) == ("", 1)
    assert fake.models["accounts/acme/models/tuned-1"]["state"] == "READY"

    status, _ = await call(http, "DELETE", "accounts/acme/supervisedFineTuningJobs/job-1")
    assert status == 200
    status, missing = await call(http, "GET", "accounts/acme/supervisedFineTuningJobs/job-1")
    assert (status, missing["code"]) == (404, 5)


async def test_job_needs_a_ready_dataset_and_a_tunable_base(fake: FakeFireworks, http):
    fake.dataset_ready_polls = 5
    dataset = await make_dataset(http)
    jobs = "accounts/acme/supervisedFineTuningJobs"

    status, not_ready = await call(http, "POST", jobs, json={"dataset": dataset, "baseModel": BASE})
    fake.set_dataset("train-1", "READY")
    status_base, bad_base = await call(
        http, "POST", jobs, json={"dataset": dataset, "baseModel": "accounts/x/models/nope"}
    )

    assert (status, not_ready["code"]) == (400, 9)
    assert (status_base, bad_base["code"]) == (400, 3)


async def test_lost_creation_answer_then_cancel(fake: FakeFireworks, http):
    dataset = await make_dataset(http)
    fake.fail_next_create()

    with pytest.raises(aiohttp.ClientError):
        await call(
            http,
            "POST",
            "accounts/acme/supervisedFineTuningJobs",
            params={"supervisedFineTuningJobId": "job-lost"},
            json={"dataset": dataset, "baseModel": BASE},
        )

    _, job = await call(http, "GET", "accounts/acme/supervisedFineTuningJobs/job-lost")
    assert fake.latest_job()["name"] == job["name"]
    status, _ = await call(
        http, "POST", "accounts/acme/supervisedFineTuningJobs/job-lost:cancel", json={}
    )
    assert status == 200
    assert fake.job("job-lost")["state"] == "JOB_STATE_CANCELLED"


async def test_dpo_job(fake: FakeFireworks, http):
    dataset = await make_dataset(http, "prefs")
    body = {
        "dataset": dataset,
        "trainingConfig": {"baseModel": BASE, "outputModel": "dpo-1", "epochs": 1},
        "lossConfig": {"method": "DPO", "dpo": {"beta": 0.1}},
    }

    _, job = await call(http, "POST", "accounts/acme/dpoJobs", params={"dpoJobId": "d1"}, json=body)
    fake.set_job(job["name"], "COMPLETED")
    _, listing = await call(http, "GET", "accounts/acme/dpoJobs")

    assert job["trainingConfig"]["outputModel"] == "accounts/acme/models/dpo-1"
    assert [j["state"] for j in listing["dpoJobs"]] == ["JOB_STATE_COMPLETED"]
    assert "accounts/acme/models/dpo-1" in fake.models


async def test_serverless_lora_serves_chat_once_deployed(fake: FakeFireworks, http, client):
    dataset = await make_dataset(http)
    await call(
        http,
        "POST",
        "accounts/acme/supervisedFineTuningJobs",
        params={"supervisedFineTuningJobId": "j"},
        json={"dataset": dataset, "baseModel": SERVERLESS_BASE, "outputModel": "lora"},
    )
    fake.set_job("j", "COMPLETED")
    lora = "accounts/acme/models/lora"
    messages = [{"role": "user", "content": "hello"}]

    _, loaded = await call(
        http, "POST", "accounts/acme/deployedModels", json={"model": lora, "serverless": True}
    )
    assert loaded["state"] == "DEPLOYING"
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(model=lora, messages=messages)

    deployed_id = loaded["name"].rsplit("/", 1)[-1]
    _, polled = await call(http, "GET", f"accounts/acme/deployedModels/{deployed_id}")
    reply = await client.chat.completions.create(model=lora, messages=messages)
    stream = await client.chat.completions.create(model=lora, messages=messages, stream=True)
    streamed = "".join([c.choices[0].delta.content or "" async for c in stream])

    assert polled["state"] == "DEPLOYED"
    assert reply.choices[0].message.content == f"Reply from {lora}"
    assert streamed.strip() == f"Reply from {lora}"
    _, listing = await call(
        http, "GET", "accounts/acme/deployedModels", params={"filter": "serverless=true"}
    )
    assert [d["model"] for d in listing["deployedModels"]] == [lora]

    await call(http, "DELETE", f"accounts/acme/deployedModels/{deployed_id}")
    assert lora not in fake.served_models


async def test_serverless_load_refuses_other_bases(fake: FakeFireworks, http):
    dataset = await make_dataset(http)
    await call(
        http,
        "POST",
        "accounts/acme/supervisedFineTuningJobs",
        params={"supervisedFineTuningJobId": "j"},
        json={"dataset": dataset, "baseModel": BASE},
    )
    fake.set_job("j", "COMPLETED")

    status, error = await call(
        http,
        "POST",
        "accounts/acme/deployedModels",
        json={"model": "accounts/acme/models/j", "serverless": True},
    )

    assert (status, error["code"]) == (400, 9)


async def test_chat_base_model_unknown_model_and_bad_key(fake: FakeFireworks, client):
    messages = [{"role": "user", "content": "hi"}]

    reply = await client.chat.completions.create(model=BASE, messages=messages)
    with pytest.raises(openai.NotFoundError) as missing:
        await client.chat.completions.create(model="accounts/acme/models/nope", messages=messages)
    async with AsyncOpenAI(api_key="fw-wrong", base_url=fake.inference_url, max_retries=0) as bad:
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model=BASE, messages=messages)

    assert reply.choices[0].message.content == f"Reply from {BASE}"
    assert missing.value.code == "NOT_FOUND"
    assert fake.chat_requests[0]["model"] == BASE


async def test_control_plane_rejects_bad_key_and_other_accounts(fake: FakeFireworks, http):
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{fake.api_url}/accounts/acme/datasets") as response,
    ):
        assert response.status == 401
        assert (await response.json())["code"] == 16

    status, error = await call(http, "GET", "accounts/other/datasets")

    assert (status, error["code"]) == (403, 7)
