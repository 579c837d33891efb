"""A job's export snapshot written from a file reads back byte for byte through JobStore."""

from __future__ import annotations

import hashlib
import os

import pytest
from redis.asyncio import Redis

from storage.export_files import save_export_file
from storage.jobs import JobStore
from storage.keys import Keys


@pytest.fixture
async def client(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.mark.parametrize("size", [0, 1000, 3 * 1024 * 1024 + 7])
async def test_a_snapshot_from_a_file_reads_back_as_the_file(client, tmp_path, size):
    # Random bytes do not compress: several pieces of base64, the last one short.
    content = os.urandom(size)
    path = tmp_path / "training.jsonl"
    path.write_bytes(content)
    jobs = JobStore(client, Keys("snapshots"))
    digest = await save_export_file(jobs, "ftjob-1", "training", path)
    assert digest == hashlib.sha256(content).hexdigest()
    assert await jobs.load_export("ftjob-1", "training") == content
    assert await jobs.load_export("ftjob-1", "validation") is None
    # Nothing but the job's export is left in Redis.
    assert await client.keys("*packing*") == []


async def test_a_snapshot_reads_the_same_as_one_saved_from_bytes(client, tmp_path):
    content = b'{"messages":[{"role":"user","content":"hi"}]}\n' * 5000
    path = tmp_path / "training.jsonl"
    path.write_bytes(content)
    jobs = JobStore(client, Keys("snapshots"))
    from_bytes = await jobs.save_export("ftjob-a", "training", content)
    assert await save_export_file(jobs, "ftjob-b", "training", path) == from_bytes
    assert await jobs.load_export("ftjob-b", "training") == await jobs.load_export(
        "ftjob-a", "training"
    )
