"""Long threads through signed Slack requests: every turn still trains on exactly what the
model saw, and a deleted message's text leaves Redis while the turns before it stay votable."""

from __future__ import annotations

import shutil

import pytest

from tests.e2e.harness import CHANNEL, slack_message
from tests.e2e.test_cluster import cluster  # noqa: F401 (the fixture)
from tests.e2e.test_core_loop import settle
from tests.e2e.test_curation import answered, deleted, everything_stored


async def thread(bot, slack, turns: int) -> list[tuple[str, str]]:
    """A thread of `turns` mentions, each answered; (the person's ts, the reply's ts) each."""
    asked, reply = await answered(bot, slack, "question 1 about the zebra rollout")
    sent = [(asked, reply)]
    for n in range(2, turns + 1):
        text = f"question {n} about the zebra rollout"
        sent.append(await answered(bot, slack, text, thread_ts=asked))
    return sent


async def approved_example(bot, reply_ts: str) -> list[dict]:
    await bot.react(reply_ts)
    await settle()
    [example_id] = await bot.services.examples.all_ids()
    return (await bot.services.examples.get(example_id)).messages


def what_the_model_saw(openai_fake, slack, number: int, reply_ts: str) -> list[dict]:
    reply = slack.messages[(CHANNEL, reply_ts)].text
    return [
        *openai_fake.chat_requests[number - 1]["messages"],
        {"role": "assistant", "content": reply},
    ]


async def test_a_vote_on_turn_5_of_20_trains_on_exactly_what_the_model_saw(bot, slack, openai_fake):
    sent = await thread(bot, slack, 20)
    _, reply = sent[4]
    assert await approved_example(bot, reply) == what_the_model_saw(openai_fake, slack, 5, reply)
    for n, (_, reply) in enumerate(sent, start=1):
        turn = await bot.services.turns.get(slack_message(CHANNEL, reply))
        assert turn.messages == openai_fake.chat_requests[n - 1]["messages"]


async def test_deleting_a_message_mid_thread_removes_its_text_and_earlier_turns_stay_votable(
    bot, slack, openai_fake
):
    sent = await thread(bot, slack, 12)
    asked, _ = sent[5]
    await deleted(bot, CHANNEL, asked)
    await settle()

    stored = await everything_stored(bot.services.redis)
    assert "question 6 about" not in stored
    assert "question 5 about" in stored
    for _, reply in sent[5:]:
        assert await bot.services.turns.get(slack_message(CHANNEL, reply)) is None
    _, reply = sent[2]
    assert await approved_example(bot, reply) == what_the_model_saw(openai_fake, slack, 3, reply)


@pytest.mark.skipif(not shutil.which("redis-cli"), reason="needs redis-cli")
async def test_on_a_cluster_a_deleted_message_takes_its_text_and_earlier_turns_stay(
    start_bot,
    slack,
    openai_fake,
    cluster,  # noqa: F811
):
    bot = await start_bot(redis_url=f"redis://127.0.0.1:{cluster.ports[0]}/0", redis_cluster=True)
    sent = await thread(bot, slack, 4)
    asked, _ = sent[2]
    await deleted(bot, CHANNEL, asked)
    await settle()
    for _, reply in sent[2:]:
        assert await bot.services.turns.get(slack_message(CHANNEL, reply)) is None
    turn = await bot.services.turns.get(slack_message(CHANNEL, sent[1][1]))
    assert turn.messages == openai_fake.chat_requests[1]["messages"]
    _, reply = sent[1]
    assert await approved_example(bot, reply) == what_the_model_saw(openai_fake, slack, 2, reply)
