"""Discord, as a person sees it: how long after they press Enter (or react) something happens.

In one process and one event loop: the app as the composition root builds it
(`bot.__main__.assemble`, Discord only) with its real discord.py client connected to the local
fake Discord (REST + gateway, `tests/fakes/discord/`), the OpenAI stand-in streaming the
answer, and a real redis-server; everything on loopback, one event at a time:

- floor: `PING` from a redis.asyncio client (one Redis round trip);
- mention -> first visible text: from just before the fake dispatches MESSAGE_CREATE for a
  mention until the fake stores the bot's reply message (its creation in `edits_of`), and
  mention -> complete answer (the reply's last edit). Twice: the model streaming a 400-character
  answer in 8-character pieces 20 ms apart (about 1 s of model time, as a model would), and the
  same pieces with no delay (what the bot itself adds);
- reaction -> example stored: from just before the fake dispatches MESSAGE_REACTION_ADD (👍 on a
  recorded reply) until `approve_turn` returned with the vote in Redis.

The first mention and the first reaction after the bot is connected and ready are what the
first person to talk to a freshly started bot sees; they are in the series and are also
reported on their own, with where their time went next to the median's.

Run: python -m bench discord [--discord-events 300]
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import discord
from redis.asyncio import Redis

from bench.common import percentile, redis_server
from bot.config import load_settings
from bot.conversation.curation import Outcome
from tests.e2e.harness import RunningBot
from tests.fakes.discord_api import FakeDiscord
from tests.fakes.openai_api import FakeOpenAI

ALICE, BOB = 4242, 4343
PIECE_CHARS = 8
PIECE_DELAY = 0.02
ROUNDS = 4
# One paced (streamed) mention takes about a second of model time; keep their number small.
STREAMED_SHARE = 5
TIMEOUT = 30.0

ANSWER = (
    "Arr, the deploy be a three-step voyage, matey. First ye merge the branch into main and "
    "let the pipeline run its checks. Second, when the tests be green, tag the release and "
    "watch the build push the image to the registry. Third, roll it out to one server, keep "
    "an eye on the error rate for ten minutes, then send it to the rest of the fleet. If "
    "anything smells of bilge water, roll back first and ask questions after. Fair winds!"
)


@dataclass
class MentionSample:
    first_text: float  # seconds from dispatch to the reply message existing
    complete: float  # ... to its last edit
    edits: int  # creation + edits of the reply
    # Where the time went (seconds, consecutive stages from the dispatch).
    to_typing: float  # gateway delivery, discord.py parsing, guards, dedupe SET NX, typing POST
    to_model: float  # typing answered, active model + history reads, tokenizer, SDK request
    to_first_text: float  # first streamed piece back, discord.py POST of the reply
    to_recorded: float  # rest of the stream and edits, final edit, turn written to Redis


@dataclass
class ReactionSample:
    stored: float  # seconds from dispatch to approve_turn returning (example in Redis)
    to_handler: float  # gateway delivery, discord.py parsing, guards, until approve_turn began
    in_vote: float  # approve_turn: turn GET, example built, tokens counted, vote script


def _summary(seconds: list[float]) -> dict[str, float]:
    """p50/p90/p99/max and the series' first sample, in milliseconds."""

    def ms(value: float) -> float:
        return round(value * 1000, 3)

    return {
        "n": len(seconds),
        "p50_ms": ms(percentile(seconds, 50)),
        "p90_ms": ms(percentile(seconds, 90)),
        "p99_ms": ms(percentile(seconds, 99)),
        "max_ms": ms(max(seconds)),
        "first_ms": ms(seconds[0]),
    }


async def _measure(n: int, n_streamed: int, redis_url: str) -> dict[str, Any]:
    # The bot points discord.py's class-wide URLs at the fake; put Discord's back afterwards.
    saved_urls = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    fake, openai = FakeDiscord(), FakeOpenAI()
    await fake.start()
    await openai.start()
    bot: RunningBot | None = None
    redis = Redis.from_url(redis_url)
    try:
        model_requests: list[float] = []

        def answer(_: dict[str, Any]) -> str:
            model_requests.append(time.monotonic())  # the stand-in starts answering
            return ANSWER

        openai.reply = answer
        openai.stream_piece_chars = PIECE_CHARS
        settings = load_settings(
            slack_bot_token="",
            slack_signing_secret="",
            discord_token=fake.bot_token,
            discord_api_url=fake.api_url,
            discord_gateway_url=fake.gateway_url,
            discord_guild_id=fake.guild_id,
            openai_api_key=openai.api_key,
            openai_base_url=openai.base_url,
            redis_url=redis_url,
            system_prompt="You are Captain Byte, a pirate. Answer like a pirate.",
            openai_timeout_seconds=5,
            chat_rate_per_minute=0,  # the whole load comes from one simulated person
        )
        started = time.monotonic()
        bot = await RunningBot.start(settings, watch=False, warm=True)
        assert bot.discord is not None
        await fake.wait_connected(timeout=TIMEOUT)
        connected = time.monotonic()
        await fake.wait_for(bot.discord.is_ready, timeout=TIMEOUT, what="on_ready")
        ready = time.monotonic()
        startup = {"to_gateway_live_s": connected - started, "to_ready_s": ready - started}

        # Completion signals, observed in the bot's own calls: the chat core returning (the
        # answer complete and its turn recorded) and the vote returning from Redis. One event
        # is in flight at a time, so one pending future each.
        pending: dict[str, asyncio.Future] = {}
        chat_reply = bot.services.chat.reply

        async def observed_reply(incoming: Any, target: Any) -> Any:
            entered = time.monotonic()
            try:
                turn = await chat_reply(incoming, target)
            except BaseException as error:
                pending.pop("mention").set_exception(error)
                raise
            pending.pop("mention").set_result((incoming, entered, turn))
            return turn

        bot.services.chat.reply = observed_reply
        approve_turn = bot.services.curation.approve_turn

        async def observed_vote(reply: Any, *args: Any) -> Any:
            entered = time.monotonic()
            result = await approve_turn(reply, *args)
            pending.pop("vote").set_result((reply, entered, time.monotonic(), result))
            return result

        bot.services.curation.approve_turn = observed_vote
        loop = asyncio.get_running_loop()
        replies: list[int] = []

        async def mention(i: int) -> MentionSample:
            pending["mention"] = done = loop.create_future()
            typed = len(fake.typing_calls)
            asked = len(model_requests)
            start = time.monotonic()
            payload = await fake.send_message(
                f"<@{fake.bot_user_id}> what is step {i} of the deploy?",
                author_id=ALICE,
                mention_bot=True,
            )
            incoming, _, turn = await asyncio.wait_for(done, TIMEOUT)
            assert incoming.thread_ts == payload["id"] and turn is not None, (incoming, turn)
            reply_id = int(turn.ts)
            edits = fake.edits_of(reply_id)
            assert edits[-1][1] == ANSWER, edits[-1]
            recorded = time.monotonic()
            [typing] = fake.typing_calls[typed:]
            [model] = model_requests[asked:]
            replies.append(reply_id)
            return MentionSample(
                first_text=edits[0][0] - start,
                complete=edits[-1][0] - start,
                edits=len(edits),
                to_typing=typing.at - start,
                to_model=model - typing.at,
                to_first_text=edits[0][0] - model,
                to_recorded=recorded - edits[0][0],
            )

        async def reaction(reply_id: int) -> ReactionSample:
            pending["vote"] = done = loop.create_future()
            start = time.monotonic()
            await fake.add_reaction(reply_id, "👍", user_id=BOB)
            reply, entered, returned, result = await asyncio.wait_for(done, TIMEOUT)
            assert reply.id == str(reply_id) and result.outcome is Outcome.ADDED, result
            return ReactionSample(
                stored=returned - start, to_handler=entered - start, in_vote=returned - entered
            )

        async def ping() -> float:
            start = time.perf_counter()
            await redis.ping()
            return time.perf_counter() - start

        async def repeat(count: int, once: Callable[[int], Awaitable[Any]]) -> list[Any]:
            return [await once(i) for i in range(count)]

        paced: list[MentionSample] = []
        instant: list[MentionSample] = []
        reactions: list[ReactionSample] = []
        pings: list[float] = []
        per_round, streamed_per_round = max(1, n // ROUNDS), max(1, n_streamed // ROUNDS)
        # In rounds, so that drift in the machine's load reaches every series alike. The paced
        # series goes first: the first mention after start is one a streaming model answers.
        for r in range(ROUNDS):
            openai.stream_piece_delay = PIECE_DELAY
            paced += await repeat(streamed_per_round, lambda i, r=r: mention(r * 10_000 + i))
            openai.stream_piece_delay = 0.0
            del replies[:]
            instant += await repeat(per_round, lambda i, r=r: mention(r * 10_000 + 5_000 + i))
            reactions += await repeat(per_round, lambda i: reaction(replies[i]))
            pings += await repeat(per_round, lambda _: ping())
        stored = await bot.services.examples.stats()
        assert stored.examples == len(reactions), stored
        return {
            "startup": startup,
            "paced": paced,
            "instant": instant,
            "reactions": reactions,
            "pings": pings,
            "examples_stored": stored.examples,
        }
    finally:
        await redis.aclose()
        if bot is not None:
            await bot.services.openai.close()
            await bot.stop()
        await fake.stop()
        await openai.stop()
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved_urls


def _breakdown(samples: list[Any], stages: tuple[str, ...]) -> dict[str, dict[str, float]]:
    return {
        stage: {
            "p50_ms": round(statistics.median(getattr(s, stage) for s in samples) * 1000, 3),
            "first_ms": round(getattr(samples[0], stage) * 1000, 3),
        }
        for stage in stages
    }


MENTION_STAGES = ("to_typing", "to_model", "to_first_text", "to_recorded")
REACTION_STAGES = ("to_handler", "in_vote")
# The series whose first sample is the first mention / reaction after the bot started.
FIRST_AFTER_START = {
    "mention_to_first_text_streamed",
    "mention_to_complete_streamed",
    "reaction_to_example_stored",
}
LABELS = {
    "redis_ping": "Redis PING (the floor)",
    "mention_to_first_text_streamed": "mention -> first text, model streaming",
    "mention_to_complete_streamed": "mention -> complete answer, streaming",
    "mention_to_first_text_no_delay": "mention -> first text, no model delay",
    "mention_to_complete_no_delay": "mention -> complete answer, no delay",
    "reaction_to_example_stored": "reaction -> example stored",
    "to_typing": "dispatch -> typing POST at the fake",
    "to_model": "typing -> request at the model",
    "to_first_text": "model -> reply message stored",
    "to_recorded": "first text -> turn recorded",
    "to_handler": "dispatch -> approve_turn called",
    "in_vote": "approve_turn (vote in Redis)",
}


def run(n: int = 300) -> dict[str, Any]:
    n_streamed = max(ROUNDS, n // STREAMED_SHARE)
    began = time.monotonic()
    # One log line per event is the bot's normal behaviour, but here it would only be noise.
    logging.disable(logging.WARNING)
    try:
        with redis_server() as server:
            raw = asyncio.run(_measure(n, n_streamed, server.url))
    finally:
        logging.disable(logging.NOTSET)
    elapsed = time.monotonic() - began
    paced, instant, reactions = raw["paced"], raw["instant"], raw["reactions"]
    figures = {
        "redis_ping": _summary(raw["pings"]),
        "mention_to_first_text_streamed": _summary([s.first_text for s in paced]),
        "mention_to_complete_streamed": _summary([s.complete for s in paced]),
        "mention_to_first_text_no_delay": _summary([s.first_text for s in instant]),
        "mention_to_complete_no_delay": _summary([s.complete for s in instant]),
        "reaction_to_example_stored": _summary([s.stored for s in reactions]),
    }
    breakdown = {
        "mention_streamed": _breakdown(paced, MENTION_STAGES),
        "mention_no_delay": _breakdown(instant, MENTION_STAGES),
        "reaction": _breakdown(reactions, REACTION_STAGES),
    }
    first_after_start = {
        "mention_to_first_text_ms": figures["mention_to_first_text_streamed"]["first_ms"],
        "mention_to_complete_ms": figures["mention_to_complete_streamed"]["first_ms"],
        "reaction_to_example_stored_ms": figures["reaction_to_example_stored"]["first_ms"],
    }
    startup = {key: round(value, 3) for key, value in raw["startup"].items()}
    edits = sorted(s.edits for s in paced)

    print(
        f"  start: gateway session live after {startup['to_gateway_live_s']:.2f} s, "
        f"on_ready after {startup['to_ready_s']:.2f} s"
    )
    print(
        f"  {'series (ms)':<42} {'n':>4} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>9} {'first':>9}"
    )
    for name, row in figures.items():
        cold = " *" if name in FIRST_AFTER_START else ""
        print(
            f"  {LABELS[name]:<42} {row['n']:>4} {row['p50_ms']:>9.3f} {row['p90_ms']:>9.3f}"
            f" {row['p99_ms']:>9.3f} {row['max_ms']:>9.3f} {row['first_ms']:>9.3f}{cold}"
        )
    print("  * first = the first mention / reaction after start (also counted in the series)")
    print(
        f"  streamed: {len(ANSWER)} chars in {PIECE_CHARS}-char pieces {PIECE_DELAY * 1000:.0f}"
        f" ms apart; reply messages had {edits[len(edits) // 2]} versions at the median"
        f" (creation + edits, {edits[0]}-{edits[-1]})"
    )
    print(f"  {'where the time went (ms)':<42} {'p50':>9} {'first':>9}")
    for title, stages in breakdown.items():
        print(f"  {title}")
        for stage, row in stages.items():
            print(f"    {LABELS[stage]:<40} {row['p50_ms']:>9.3f} {row['first_ms']:>9.3f}")
    print(f"  run took {elapsed:.1f} s, {raw['examples_stored']} examples stored")
    return {
        "events_per_series": {
            "mention_streamed": len(paced),
            "mention_no_delay": len(instant),
            "reaction": len(reactions),
            "redis_ping": len(raw["pings"]),
        },
        "stream": {
            "answer_chars": len(ANSWER),
            "piece_chars": PIECE_CHARS,
            "piece_delay_s": PIECE_DELAY,
            "reply_versions_streamed": {"min": edits[0], "median": edits[len(edits) // 2]},
        },
        "startup": startup,
        "latency": figures,
        "first_after_start": first_after_start,
        "breakdown": breakdown,
        "examples_stored": raw["examples_stored"],
        "run_seconds": round(elapsed, 1),
    }
