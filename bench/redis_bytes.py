"""Redis bytes per turn: what one 20-turn thread costs Redis, turn by turn, against its new text.

The app as the e2e tests build it (signed Slack mentions over HTTP, the local Slack and OpenAI
stand-ins, a real redis-server), one thread of 20 mentions, each answered and recorded before
the next. The system prompt is 90 words; users write 8-60 words, the model answers 15-210 words
with lists and code blocks (the dataset benchmark's text maker). The thread's history is trimmed
by the default token budget, as in production.

After each turn every key in Redis is measured with `MEMORY USAGE <key> SAMPLES 0` (Redis's own
accounting of a key: name, value, encoding overhead). A turn's stored bytes are the change of
that sum over the keys turns live in (the turn, the thread pointer, the conversation's texts and
turn set, the provenance index sets, reply parts), shown in groups: texts (the conversation's
texts; before they were stored once, the inline messages were part of the record), the turn
record, the provenance index (`storage/provenance.py`: every turn is added to one set per
message it holds text of) and the rest. Other keys (event dedupe marks, which expire in
minutes) are shown apart. Channel and user ids are as long as Slack's, two people take turns.
New text is the UTF-8 bytes of the person's message plus the reply. Target: stored <= 3x new
text for every turn.

Run: python -m bench redis-bytes [--turns 20]
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

from redis.asyncio import Redis

from bench.common import redis_server
from bench.dataset import TextMaker
from storage.schemas import MessageKey
from tests.e2e.harness import RunningBot, make_settings
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack

TARGET_RATIO = 3.0
# Slack's ids are this long (refs to messages, stored in every turn, are built from them).
CHANNEL = "C07QX3RD9KA"
PEOPLE = ["U05LM8ZT2QH", "U06B1N4WX7C"]
# The keys a turn lives in, by the part of their name after the hash tag, in the groups shown.
GROUPS = {
    "turn-texts": "texts",
    "turn": "record",
    "turns-from-message": "provenance",
    "turns-from-person": "provenance",
    "conversation-turns": "rest",
    "thread": "rest",
    "reply-parts": "rest",
    "dataset-stats": "rest",
}


def _kind(key: str) -> str:
    _, _, rest = key.partition("}:")
    return rest.split(":", 1)[0] if rest else key


async def _sizes(redis: Redis) -> dict[str, int]:
    sizes = {}
    async for key in redis.scan_iter(count=1000):
        size = await redis.memory_usage(key, samples=0)
        if size is not None:
            sizes[key] = size
    return sizes


def _by_kind(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    delta: dict[str, int] = {}
    for key in before.keys() | after.keys():
        change = after.get(key, 0) - before.get(key, 0)
        if change:
            delta[_kind(key)] = delta.get(_kind(key), 0) + change
    return delta


async def _recorded(bot: RunningBot, thread: MessageKey, reply_ts: str) -> None:
    # The reply is posted before its turn is recorded.
    for _ in range(500):
        turn = await bot.services.turns.latest_in_thread(thread)
        if turn is not None and turn.ts == reply_ts:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the turn answered by {reply_ts} was never recorded")


async def _reply_to(slack: FakeSlack, thread_ts: str, seen: set[str]) -> str:
    for _ in range(500):
        for message in slack.messages.values():
            if message.thread_ts == thread_ts and not message.streaming and message.ts not in seen:
                seen.add(message.ts)
                return message.ts
        await asyncio.sleep(0.01)
    raise AssertionError("the bot never answered")


async def _measure(turns: int, redis_url: str, seed: int) -> dict[str, Any]:
    maker = TextMaker(random.Random(seed))
    system_prompt = maker.sentence(90)
    asks = [maker.user_message() for _ in range(turns)]
    answers = [maker.reply() for _ in range(turns)]
    slack, openai = FakeSlack(), FakeOpenAI()
    openai.reply = lambda body: answers[len(openai.chat_requests) - 1]
    await slack.start()
    await openai.start()
    settings = make_settings(slack, openai, redis_url=redis_url, system_prompt=system_prompt)
    bot = await RunningBot.start(settings, watch=False)
    redis = Redis.from_url(redis_url, decode_responses=True)
    rows = []
    try:
        # The first request resolves the bot's identity (auth.test); keep it out of the figures.
        await bot.react("0.0", reaction="eyes")
        await asyncio.sleep(0.1)
        thread_ts, seen = None, set()
        before = await _sizes(redis)
        used_before = (await redis.info("memory"))["used_memory"]
        for number, (ask, answer) in enumerate(zip(asks, answers, strict=True), start=1):
            user = PEOPLE[number % 2]
            ts = await bot.mention(ask, thread_ts=thread_ts, channel=CHANNEL, user=user)
            thread_ts = thread_ts or ts
            reply_ts = await _reply_to(slack, thread_ts, seen)
            await _recorded(bot, MessageKey("slack", CHANNEL, thread_ts), reply_ts)
            after = await _sizes(redis)
            delta = _by_kind(before, after)
            before = after
            new_text = len(ask.encode()) + len(answer.encode())
            groups = {group: 0 for group in [*dict.fromkeys(GROUPS.values()), "other"]}
            for kind, change in delta.items():
                groups[GROUPS.get(kind, "other")] += change
            stored = sum(change for group, change in groups.items() if group != "other")
            rows.append(
                {
                    "turn": number,
                    "new_text_bytes": new_text,
                    "stored_bytes": stored,
                    "ratio": round(stored / new_text, 2),
                    **{f"{group}_bytes": change for group, change in groups.items()},
                    "by_key_kind": delta,
                    "messages_sent_to_model": len(openai.chat_requests[-1]["messages"]),
                }
            )
        used_after = (await redis.info("memory"))["used_memory"]
        return {
            "system_prompt_bytes": len(system_prompt.encode()),
            "turns": rows,
            "used_memory_delta_bytes": used_after - used_before,
        }
    finally:
        await redis.aclose()
        await bot.services.openai.close()
        await bot.stop()
        await slack.stop()
        await openai.stop()


def run(turns: int = 20, seed: int = 3) -> dict[str, Any]:
    logging.disable(logging.WARNING)
    with redis_server() as server:
        raw = asyncio.run(_measure(turns, server.url, seed))
    logging.disable(logging.NOTSET)
    rows = raw["turns"]
    print(f"  system prompt: {raw['system_prompt_bytes']} bytes")
    print(
        "  turn  new text  stored  ratio |  texts  record  provenance  rest | other keys"
        "  messages sent"
    )
    for row in rows:
        print(
            f"  {row['turn']:4d}  {row['new_text_bytes']:8,d}  {row['stored_bytes']:6,d}"
            f"  {row['ratio']:5.2f} | {row['texts_bytes']:6,d}  {row['record_bytes']:6,d}"
            f"  {row['provenance_bytes']:10,d}  {row['rest_bytes']:4,d} |"
            f" {row['other_bytes']:+10,d}  {row['messages_sent_to_model']}"
        )
    new_text = sum(row["new_text_bytes"] for row in rows)
    stored = sum(row["stored_bytes"] for row in rows)
    worst = max(rows, key=lambda row: row["ratio"])
    met = all(row["ratio"] <= TARGET_RATIO for row in rows)
    print(f"  total: new text {new_text:,d}, stored {stored:,d} ({stored / new_text:.2f} x)")
    for group in ("texts", "record", "provenance", "rest"):
        print(f"    {group}: {sum(row[f'{group}_bytes'] for row in rows):,d}")
    print(f"  INFO memory used_memory grew by {raw['used_memory_delta_bytes']:,d} over the thread")
    print(
        f"  target: stored <= {TARGET_RATIO:g} x new text in every turn: "
        f"{'met' if met else 'MISSED'} (worst: turn {worst['turn']}, {worst['ratio']} x)"
    )
    return {
        **raw,
        "total_by_group": {
            group: sum(row[f"{group}_bytes"] for row in rows)
            for group in ("texts", "record", "provenance", "rest")
        },
        "total_new_text_bytes": new_text,
        "total_stored_bytes": stored,
        "total_ratio": round(stored / new_text, 2),
        "target_ratio": TARGET_RATIO,
        "target_met": met,
    }
