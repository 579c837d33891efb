"""The export read a batch at a time decides exactly what reading everything at once decided:
the same examples, in the same order, with the same weights on earlier replies."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from bot.dataset.export import Dataset, jsonl, training_messages
from storage.examples import ExampleStore
from storage.keys import Keys
from storage.pairs import PairStore
from storage.schemas import Example, content_id
from storage.vetoes import VetoStore


@pytest.fixture
async def client(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def thread_examples(threads: int) -> list[Example]:
    """Threads of 1-4 turns, interleaved; every other earlier reply approved, the last always.
    Examples of one thread land hundreds of places apart, so in different batches."""
    made: list[list[Example]] = []
    for t in range(threads):
        turns = 1 + t % 4
        earlier: list[dict] = [{"role": "system", "content": "pirate"}]
        refs: list[str] = []
        examples = []
        for k in range(turns):
            user = {"role": "user", "content": f"thread {t} turn {k}"}
            reply = {"role": "assistant", "content": f"Arr {t}.{k}"}
            ref = f"C1|{t}.{k:04d}"
            if k == turns - 1 or k % 2 == 0:
                messages = [*earlier, user, reply]
                examples.append(
                    Example(
                        id=content_id(messages),
                        messages=messages,
                        history_refs=list(refs),
                        model="gpt-4.1-mini",
                        source=ref,
                    )
                )
            earlier += [user, reply]
            refs.append(ref)
        made.append(examples)
    # Round-robin over the threads: turn k of every thread before turn k + 1 of any.
    return [thread[k] for k in range(4) for thread in made if k < len(thread)]


async def whole_dataset_lines(client: Redis, keys: Keys) -> bytes:
    """The export as it was computed before: every id and the whole approved-reply index."""
    examples, vetoes = ExampleStore(client, keys), VetoStore(client, keys)
    ids = await examples.all_ids()
    voters = await examples.voters(ids)
    vetoed = await vetoes.vetoed_ids()
    trains = {i for i, n in zip(ids, voters, strict=True) if n >= 1 and i not in vetoed}
    index = await client.hgetall(keys.approved_replies)
    approved = {ref for ref, i in index.items() if i in trains}
    out = []
    async for example in examples.iter_examples():
        if example.id in trains:
            out.append(jsonl({"messages": training_messages(example, approved)}))
    return "".join(out).encode()


@pytest.mark.parametrize("remembered", [20_000, 50, 0])
async def test_a_batched_export_equals_the_whole_dataset_export(client, monkeypatch, remembered):
    monkeypatch.setattr("bot.dataset.export.STANDINGS_REMEMBERED", remembered)
    keys = Keys("batches")
    examples, vetoes = ExampleStore(client, keys), VetoStore(client, keys)
    dataset = Dataset(examples, vetoes, PairStore(client, keys))
    made = thread_examples(600)
    for n, example in enumerate(made):
        await examples.vote(example, "UA", f"{n}.0")
    # Vetoed examples are out, and their replies no longer train as history of later ones.
    for example in made[:700:50]:
        await vetoes.veto(example.id, "UB", example.source, "99.0")

    content, count = await dataset.export_bytes()
    assert len(made) > 1000  # more than two batches of 500
    assert content == await whole_dataset_lines(client, keys)
    weights = [
        m["weight"]
        for text in content.decode().splitlines()
        for m in json.loads(text)["messages"][:-1]
        if m["role"] == "assistant"
    ]
    assert 0 in weights and 1 in weights
    assert count == (await dataset.counts()).in_set == len(made) - len(made[:700:50])
