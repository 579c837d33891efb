"""The dataset in real Redis: one example per conversation, votes per person, ordered events."""

import pytest
from redis.asyncio import Redis

from storage.examples import CLOCK_TTL_SECONDS, ExampleStore
from storage.keys import Keys
from storage.schemas import Example, Turn, reply_ref


def make_turn(ts: str, reply: str = "Ahoy!", user_text: str = "hi") -> Turn:
    return Turn(
        team="T1",
        channel="C1",
        thread_ts=ts,
        ts=ts,
        user="U1",
        model="gpt-4.1-mini",
        messages=[{"role": "system", "content": "pirate"}, {"role": "user", "content": user_text}],
        reply=reply,
    )


@pytest.fixture
async def store(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield ExampleStore(client, Keys("test"))
    await client.aclose()


async def test_the_last_vote_removed_drops_the_example(store):
    example = Example.from_turn(make_turn("1.1"), tokens=12)
    await store.vote(example, "UA", "10.0")
    assert (await store.stats()).examples == 1
    result = await store.unvote(reply_ref("C1", "1.1"), "UA", "11.0")
    assert result.votes == 0
    assert (await store.stats()).examples == 0
    assert await store.get(example.id) is None


async def test_a_removal_that_arrives_before_its_add_wins(store):
    example = Example.from_turn(make_turn("1.1"))
    await store.unvote(reply_ref("C1", "1.1"), "UA", "11.0")  # delivered first, happened last
    result = await store.vote(example, "UA", "10.0")
    assert not result.changed
    assert (await store.stats()).examples == 0


async def test_the_ordering_clock_is_kept_per_reply_and_expires(store, redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    keys = Keys("test")
    for ts in ("1.1", "1.2", "1.3"):
        await store.vote(Example.from_turn(make_turn(ts, reply=f"Ahoy {ts}")), "UA", "10.0")
    ref = reply_ref("C1", "1.1")
    assert await client.hgetall(keys.vote_clock(ref)) == {f"UA|{ref}": "10.0"}
    assert 0 < await client.ttl(keys.vote_clock(ref)) <= CLOCK_TTL_SECONDS
    # No hash that grows by one field per person and reply for ever.
    assert not await client.exists("bot:{test}:vote-clock")
    await client.aclose()


async def test_identical_replies_are_one_example_and_count_each_person_once(store):
    first = Example.from_turn(make_turn("1.1"), tokens=10)
    second = Example.from_turn(make_turn("2.2"), tokens=10)
    assert first.id == second.id
    await store.vote(first, "UA", "10.0")
    await store.vote(second, "UA", "10.5")
    await store.vote(second, "UB", "10.6")
    assert await store.voter_count(first.id) == 2
    assert await store.stats() == type(await store.stats())(examples=1, approx_tokens=10)


async def test_two_bots_sharing_one_redis_do_not_see_each_other(store, redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    other = ExampleStore(client, Keys("other"))
    await store.vote(Example.from_turn(make_turn("1.1")), "UA", "10.0")
    assert (await other.stats()).examples == 0
    assert [e async for e in other.iter_examples()] == []
    await client.aclose()
