"""The memory benchmark writes its examples the way a vote stores them, only faster."""

from __future__ import annotations

from redis.asyncio import Redis

from bench.memory import fill, thread_examples
from storage.examples import ExampleStore
from storage.keys import Keys


async def contents(client: Redis, prefix: str) -> dict:
    """Every key of the bot `prefix` (its prefix cut) with its value; TTLs only as set/unset."""
    base = Keys(prefix).examples.removesuffix("examples")
    found = {}
    async for key in client.scan_iter(match=f"{base}*"):
        kind = await client.type(key)
        read = {
            "string": client.get,
            "set": client.smembers,
            "hash": client.hgetall,
            "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
        }[kind]
        found[key.removeprefix(base)] = (kind, await read(key), await client.ttl(key) > 0)
    return found


async def test_the_bench_fills_redis_as_votes_do(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    examples = list(thread_examples(60))
    assert any(example.history_refs for example, _ in examples)
    await fill(client, examples, prefix="filled")
    store = ExampleStore(client, Keys("voted"))
    for example, event_time in examples:
        await store.vote(example, "U1", event_time)
    filled = await contents(client, "filled")
    assert len(filled) > 3 * len(examples)  # each example, its votes, its reply's clock, ...
    assert filled == await contents(client, "voted")
    await client.aclose()
