"""Export and start go through temporary files on disk: what a person receives is the export
byte for byte, a start on N examples uploads N lines, and no file is left behind, after a
success or after a failure."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator

import pytest

from bot.dataset.validation import split_holdout
from storage.schemas import Example, content_id
from tests.e2e.test_finetune import command
from tests.fakes.openai_faults import FaultyOpenAI


@pytest.fixture
async def openai_fake() -> AsyncIterator[FaultyOpenAI]:
    fake = FaultyOpenAI()
    await fake.start()
    yield fake
    await fake.stop()


pytestmark = pytest.mark.usefixtures("temp_dir")


async def seed(bot, threads: int) -> int:
    """Approved replies of `threads` threads of 1-3 turns, the middle turn never approved, so
    exported history carries weights 0 and 1; returns how many examples there are."""
    count = 0
    for t in range(threads):
        earlier: list[dict] = [{"role": "system", "content": "You are Captain Byte."}]
        refs: list[str] = []
        for k in range(1 + t % 3):
            user = {"role": "user", "content": f"thread {t} question {k}"}
            reply = {"role": "assistant", "content": f"Arr, answer {k} of thread {t}."}
            ref = f"C1|{t}.{k:04d}"
            if k != 1:
                messages = [*earlier, user, reply]
                example = Example(
                    id=content_id(messages),
                    messages=messages,
                    history_refs=list(refs),
                    model="gpt-4.1-mini-2025-04-14",
                    source=ref,
                    tokens=20,
                )
                await bot.services.examples.vote(example, "UALICE", f"{t}.{k}")
                count += 1
            earlier += [user, reply]
            refs.append(ref)
    return count


def left_behind(temp_dir) -> list:
    # Files only: tiktoken keeps its cache directory there too.
    return [path for path in temp_dir.iterdir() if path.is_file()]


def jsonl_lines(content: bytes) -> list[str]:
    return content.decode().splitlines()


async def test_the_file_sent_in_a_dm_is_the_export_byte_for_byte(bot, slack, temp_dir):
    count = await seed(bot, 40)
    answer = await command(bot, slack, "export")  # an admin
    assert f"Sent you {count} examples in OpenAI chat JSONL" in answer
    [upload] = slack.uploads
    assert upload.channel_id == "DUADMIN" and upload.filename.endswith(".jsonl")
    content, exported = await bot.services.dataset.export_bytes()
    assert upload.content == content and exported == count == len(jsonl_lines(content))
    weights = {
        m.get("weight") for text in jsonl_lines(content) for m in json.loads(text)["messages"]
    }
    assert {0, 1} <= weights
    assert left_behind(temp_dir) == []


async def test_a_start_on_150_examples_uploads_all_150_split_as_always(
    start_bot, slack, openai_fake, temp_dir
):
    bot = await start_bot()
    count = await seed(bot, 75)
    assert count >= 100  # the automatic 10% holdout applies

    assert "Started fine-tuning job" in await command(bot, slack, "start")
    [request] = openai_fake.job_requests
    training = openai_fake.files[request["training_file"]].content
    validation = openai_fake.files[request["validation_file"]].content
    export, _ = await bot.services.dataset.export_bytes()
    # Every example once, in one of the two files; none lost, none twice.
    uploaded = jsonl_lines(training) + jsonl_lines(validation)
    assert sorted(uploaded) == sorted(jsonl_lines(export)) and len(uploaded) == count
    ids = [content_id(json.loads(text)["messages"]) for text in jsonl_lines(export)]
    training_ids, validation_ids = split_holdout(sorted(ids), 0.1)
    assert [content_id(json.loads(t)["messages"]) for t in jsonl_lines(training)] == training_ids
    assert [content_id(json.loads(t)["messages"]) for t in jsonl_lines(validation)] == (
        validation_ids
    )
    job = await bot.services.jobs.get(openai_fake.latest_job()["id"])
    assert job.examples == len(training_ids)
    assert job.export_sha256 == hashlib.sha256(training).hexdigest()
    assert await bot.services.jobs.load_export(job.id, "training") == training
    assert await bot.services.jobs.load_export(job.id, "validation") == validation
    assert left_behind(temp_dir) == []


async def test_a_failed_upload_leaves_no_file_behind(start_bot, slack, openai_fake, temp_dir):
    bot = await start_bot()
    await seed(bot, 10)
    openai_fake.fail("POST", "/v1/files", 500, times=3)  # the SDK tries 3 times
    answer = await command(bot, slack, "start")
    assert "could not upload the file (HTTP 500)" in answer
    # Each try sent the whole file again (the SDK rewinds it), and nothing stays on disk.
    assert openai_fake.requests_to("POST", "/v1/files") == 3
    assert left_behind(temp_dir) == []


async def test_a_refused_start_leaves_no_file_behind(bot, slack, openai_fake, temp_dir):
    await seed(bot, 3)
    assert "approve" in (await command(bot, slack, "start")).lower()
    assert openai_fake.files == {}
    assert left_behind(temp_dir) == []


async def test_an_empty_export_leaves_no_file_behind(bot, slack, temp_dir):
    assert "empty" in await command(bot, slack, "export")
    assert slack.uploads == []
    assert left_behind(temp_dir) == []
