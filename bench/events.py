"""Event overhead: what one Slack event costs the bot, next to one Redis round trip.

In one process and one event loop (the app, the local Slack and OpenAI stand-ins, the client
sending signed requests), against a real redis-server, one request at a time:

- floor: `PING` from a redis.asyncio client (one Redis round trip), and a plain HTTP round
  trip from aiohttp to the local Slack stand-in;
- Bolt's own request handling: a signed `url_verification` (signature check, parsing, the
  challenge answered) and a signed `reaction_added` with an emoji that is not a curation emoji
  (that plus our retry-dedupe middleware's one Redis write, the ack and a listener that returns
  at its first guard);
- `app_mention` -> reply posted (the model answering at once): from sending the event until the
  local Slack receives chat.postMessage;
- `reaction_added` -> example stored: from sending the event until the vote's Lua script (and
  the voter count) came back from Redis.

Run: python -m bench events [--events 2000]
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import aiohttp
from redis.asyncio import Redis

from bench.common import latency_summary, redis_server
from tests.e2e.harness import RunningBot, make_settings
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack


async def _timed(n: int, once) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await once(i)
        samples.append(time.perf_counter() - start)
    return samples


async def _measure(n: int, redis_url: str) -> dict[str, Any]:
    slack, openai = FakeSlack(), FakeOpenAI()
    openai.reply = "Aye, that be done, matey."
    await slack.start()
    await openai.start()
    bot = await RunningBot.start(make_settings(slack, openai, redis_url=redis_url), watch=False)
    redis = Redis.from_url(redis_url)
    http = aiohttp.ClientSession()
    try:
        # The first request resolves the bot's identity (auth.test); keep it out of the figures.
        await bot.react("0.0", reaction="eyes")

        # Completion signals: the reply arriving at Slack, the vote returning from Redis.
        waiting: dict[str, asyncio.Future] = {}
        post_message = slack._handlers["chat.postMessage"]

        def record_post(params: dict[str, Any]) -> dict[str, Any]:
            response = post_message(params)
            future = waiting.pop(params.get("thread_ts"), None)
            if future is not None:
                future.set_result(response["ts"])
            return response

        slack._handlers["chat.postMessage"] = record_post
        approve_turn = bot.services.curation.approve_turn

        async def record_vote(reply: Any, *args: Any) -> Any:
            result = await approve_turn(reply, *args)
            waiting.pop(reply.id).set_result(result)
            return result

        bot.services.curation.approve_turn = record_vote

        async def ping(_: int) -> None:
            await redis.ping()

        async def http_round_trip(_: int) -> None:
            async with http.post(f"{slack.api_url}api.test") as response:
                await response.read()

        async def url_verification(i: int) -> None:
            body = {"token": "legacy", "challenge": f"c{i}", "type": "url_verification"}
            await bot.post_signed(json.dumps(body), "application/json")

        async def ignored_reaction(i: int) -> None:
            await bot.react(f"1.{i:06d}", reaction="eyes")

        reply_ts: list[str] = []
        mention_acks: list[float] = []

        async def mention(i: int) -> None:
            future = asyncio.get_running_loop().create_future()
            ts = bot.next_ts()
            waiting[ts] = future
            start = time.perf_counter()
            await bot.send_event(
                {
                    "type": "app_mention",
                    "user": "UALICE",
                    "text": f"<@UBOT> what is step {i} of the deploy?",
                    "ts": ts,
                    "channel": "C1",
                    "event_ts": ts,
                }
            )
            mention_acks.append(time.perf_counter() - start)
            reply_ts.append(await future)

        reaction_acks: list[float] = []

        async def reaction(i: int) -> None:
            future = asyncio.get_running_loop().create_future()
            waiting[reply_ts[i]] = future
            start = time.perf_counter()
            await bot.react(reply_ts[i], reaction="+1")
            reaction_acks.append(time.perf_counter() - start)
            result = await future
            assert result.example_id, result

        floors = [
            ("redis_ping", ping),
            ("http_round_trip", http_round_trip),
            ("bolt_url_verification", url_verification),
            ("bolt_ignored_event", ignored_reaction),
        ]
        series: dict[str, list[float]] = {name: [] for name, _ in floors}
        series["mention_to_reply_posted"] = []
        series["reaction_to_example_stored"] = []
        # In rounds, so that drift in the machine's load reaches every series alike.
        rounds = 4
        per_round = n // rounds
        for r in range(rounds):
            for name, once in floors:
                series[name] += await _timed(per_round, once)
            offset = r * per_round
            series["mention_to_reply_posted"] += await _timed(
                per_round, lambda i, o=offset: mention(o + i)
            )
            series["reaction_to_example_stored"] += await _timed(
                per_round, lambda i, o=offset: reaction(o + i)
            )
        stored = await bot.services.examples.stats()
        assert stored.examples == per_round * rounds, stored
        return {
            "series": series,
            "mention_ack": mention_acks,
            "reaction_ack": reaction_acks,
            "examples_stored": stored.examples,
        }
    finally:
        await http.close()
        await redis.aclose()
        await bot.services.openai.close()
        await bot.stop()
        await slack.stop()
        await openai.stop()


def run(n: int = 2000) -> dict[str, Any]:
    # One log line per event is the bot's normal behaviour, but here it would only be noise.
    logging.disable(logging.WARNING)
    with redis_server() as server:
        raw = asyncio.run(_measure(n, server.url))
    logging.disable(logging.NOTSET)
    figures = {name: latency_summary(samples) for name, samples in raw["series"].items()}
    figures["mention_ack"] = latency_summary(raw["mention_ack"])
    figures["reaction_ack"] = latency_summary(raw["reaction_ack"])
    ping = figures["redis_ping"]
    ratios = {}
    for floor_name in ("bolt_url_verification", "bolt_ignored_event"):
        for stat in ("p50_ms", "p99_ms"):
            floor = figures[floor_name][stat]
            ours = figures["reaction_to_example_stored"][stat] - floor
            ratios[f"reaction_overhead_over_{floor_name}_{stat}_in_pings"] = round(
                ours / ping[stat], 2
            )
            ours = figures["mention_to_reply_posted"][stat] - floor
            ratios[f"mention_overhead_over_{floor_name}_{stat}_in_pings"] = round(
                ours / ping[stat], 2
            )
    for name, row in figures.items():
        print(
            f"  {name:<28} p50 {row['p50_ms']:7.3f} ms  p99 {row['p99_ms']:7.3f} ms"
            f"  max {row['max_ms']:7.3f} ms  (n={row['n']})"
        )
    key = "reaction_overhead_over_bolt_url_verification_p50_ms_in_pings"
    met = ratios[key] <= 2
    for name, value in ratios.items():
        print(f"  {name}: {value}")
    print(
        f"  target (reaction -> stored) - Bolt <= 2 x PING at p50: "
        f"{'met' if met else 'MISSED'} ({ratios[key]} x)"
    )
    return {
        "events_per_series": n,
        "examples_stored": raw["examples_stored"],
        "latency": figures,
        "ratios": ratios,
        "target_met": met,
    }
