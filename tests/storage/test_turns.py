"""Turns in real Redis: a long thread stores its repeated text once, reads back exactly, and a
deleted turn's text goes with it while the turns before it stay whole."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from storage.keys import Keys
from storage.schemas import MessageKey, Turn
from storage.turns import TurnStore

SYSTEM = "You are Captain Byte. " + "Answer briefly, like a pirate, and name the service. " * 8
THREAD = "1800000000.000001"


def thread_of(count: int, channel: str = "C1", thread_ts: str = THREAD) -> list[Turn]:
    """`count` turns of one thread, each carrying the whole history before it, as chat builds
    them: the system prompt, every earlier question and reply, the new question."""
    turns, history = [], []
    for n in range(1, count + 1):
        asked, answered = f"1800000000.{2 * n:06d}", f"1800000000.{2 * n + 1:06d}"
        question = {"role": "user", "content": f"Question {n}: what does step {n} do? 🚢"}
        reply = f"Reply {n}: step {n} ships the build to région {n}, then waits."
        turns.append(
            Turn(
                team="T1",
                channel=channel,
                thread_ts=thread_ts,
                ts=answered,
                user="UALICE" if n % 2 else "UBOB",
                model="gpt-4.1-mini",
                messages=[{"role": "system", "content": SYSTEM}, *history, question],
                reply=reply,
                history_refs=[t.ref for t in turns],
                asked=asked,
                message_refs=[ref for t in turns for ref in (f"{channel}|{t.asked}", t.ref)]
                + [f"{channel}|{asked}", f"{channel}|{answered}"],
                people=["UALICE", "UBOB"][: min(n, 2)],
            )
        )
        history += [question, {"role": "assistant", "content": reply}]
    return turns


@pytest.fixture
async def client(redis_url):
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture
def store(client) -> TurnStore:
    return TurnStore(client, Keys("test"), ttl_seconds=3600)


async def everything_stored(client: Redis) -> str:
    """Every value in Redis, as text."""
    values = []
    for key in await client.keys("*"):
        kind = await client.type(key)
        if kind == "string":
            values.append(await client.get(key))
        elif kind == "hash":
            values.append(json.dumps(await client.hgetall(key), ensure_ascii=False))
        elif kind == "set":
            values.append(str(await client.smembers(key)))
    return "\n".join(values)


async def test_a_20_turn_thread_reads_back_exactly_as_recorded(store):
    turns = thread_of(20)
    for turn in turns:
        await store.record(turn)
    for turn in turns:
        assert await store.get(turn.key) == turn
    assert await store.latest_in_thread(MessageKey("slack", "C1", THREAD)) == turns[-1]


async def test_the_system_prompt_and_history_are_stored_once_per_thread(store, client):
    for turn in thread_of(20):
        await store.record(turn)
    stored = await everything_stored(client)
    assert stored.count("Captain Byte") == 1
    assert stored.count("Question 7:") == 1
    assert stored.count("Reply 7:") == 1  # a reply is also the next turn's history


async def test_recording_a_turn_twice_stores_its_texts_once(store, client):
    [turn] = thread_of(1)
    await store.record(turn)
    await store.record(turn)
    assert await store.get(turn.key) == turn
    assert (await everything_stored(client)).count("Question 1:") == 1


async def test_the_texts_live_as_long_as_the_newest_turn(store, client):
    for turn in thread_of(3):
        await store.record(turn)
    keys = Keys("test")
    thread = MessageKey("slack", "C1", THREAD)
    for key in (keys.turn_texts(thread), keys.conversation_turns(thread)):
        assert 3500 < await client.ttl(key) <= 3600


async def test_a_message_keeps_its_fields_and_their_order(store):
    [turn] = thread_of(1)
    question = {
        "content": "a tool call? ",
        "role": "user",
        "name": "ada",
        "extra": [1, {"x": None}],
    }
    turn = turn.model_copy(update={"messages": [turn.messages[0], question]})
    await store.record(turn)
    read = await store.get(turn.key)
    assert read == turn
    assert list(read.messages[1]) == ["content", "role", "name", "extra"]


async def test_deleting_the_turns_holding_a_message_removes_its_text_and_keeps_earlier_turns(
    store, client
):
    turns = thread_of(20)
    for turn in turns:
        await store.record(turn)
    # A person deleted question 10: every turn holding its text goes (turns 10 to 20).
    for turn in turns[9:]:
        assert await store.delete(turn.key)
    stored = await everything_stored(client)
    for n in range(10, 21):
        assert f"Question {n}:" not in stored
        assert f"Reply {n}:" not in stored
    for turn in turns[:9]:
        assert await store.get(turn.key) == turn
    assert await store.latest_in_thread(MessageKey("slack", "C1", THREAD)) is None


async def test_deleting_a_middle_turn_keeps_the_texts_later_turns_still_need(store, client):
    turns = thread_of(5)
    for turn in turns:
        await store.record(turn)
    assert await store.delete(turns[2].key)
    for turn in (*turns[:2], *turns[3:]):
        assert await store.get(turn.key) == turn
    stored = await everything_stored(client)
    assert "Question 3:" in stored and "Reply 3:" in stored  # turns 4 and 5 hold both


async def test_deleting_the_last_turn_of_a_thread_leaves_none_of_its_text(store, client):
    [turn] = thread_of(1)
    await store.record(turn)
    assert await store.delete(turn.key)
    assert not await store.delete(turn.key)
    stored = await everything_stored(client)
    assert "Captain Byte" not in stored and "Question 1:" not in stored
    assert "Reply 1:" not in stored


async def test_deleting_a_turn_leaves_other_threads_alone(store):
    here, there = thread_of(2), thread_of(2, thread_ts="1900000000.000001", channel="C2")
    for turn in (*here, *there):
        await store.record(turn)
    for turn in here:
        await store.delete(turn.key)
    for turn in there:
        assert await store.get(turn.key) == turn


async def test_a_turn_stored_with_its_messages_inline_still_reads_and_deletes(store, client):
    keys = Keys("test")
    old, new = thread_of(2)
    # As turns were stored before their texts were kept once per thread.
    await client.set(keys.turn(old.key), old.model_dump_json(), ex=3600)
    await store.record(new)
    assert await store.get(old.key) == old
    assert await store.get(new.key) == new
    assert await store.delete(old.key)
    assert await store.get(old.key) is None
    assert await store.get(new.key) == new


async def test_a_turn_whose_texts_expired_first_reads_as_expired(store, client):
    turns = thread_of(2)
    for turn in turns:
        await store.record(turn)
    await client.delete(Keys("test").turn_texts(MessageKey("slack", "C1", THREAD)))
    assert await store.get(turns[0].key) is None


async def test_a_split_reply_is_found_from_any_of_its_parts(store):
    [turn] = thread_of(1)
    turn = turn.model_copy(update={"part_ids": ["1800000000.000009"]})
    await store.record(turn)
    assert await store.get(MessageKey("slack", "C1", "1800000000.000009")) == turn


async def test_a_client_without_decoded_responses_reads_and_deletes_too(redis_url):
    client = Redis.from_url(redis_url)
    store = TurnStore(client, Keys("test"), ttl_seconds=3600)
    turns = thread_of(3)
    for turn in turns:
        await store.record(turn)
    assert await store.get(turns[1].key) == turns[1]
    assert await store.delete(turns[2].key)
    assert await store.get(turns[0].key) == turns[0]
    await client.aclose()
