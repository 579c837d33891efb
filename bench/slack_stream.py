"""Slack, as a person in the thread sees it: how long after they mention the bot something shows.

In one process and one event loop: the app as the composition root builds it
(`bot.__main__.assemble`, Slack only) serving HTTP on loopback, signed `app_mention` events sent
to it, the local Slack stand-in (`tests/fakes/slack_api.py`), the OpenAI stand-in streaming the
answer as a model would (first piece after 300 ms, the whole 428 characters about 3 s after the
request), and a real redis-server. One mention at a time, each in a new thread, each waited for
until its turn is recorded. Clock: `time.monotonic()` just before the event is sent, and the
fake's own stamp of each call's arrival (`Call.at`):

- thinking status: the thread's first successful assistant.threads.setStatus;
- first visible text: the thread's chat.startStream (its chunks carry the first text);
- whole reply: chat.stopStream of that message (the rest of the text and the feedback buttons).

Before streaming the bot posted the whole answer once, with chat.postMessage, after the model had
finished: the first text a person saw then came with the whole reply. That is reported from the
whole-reply figure, not measured with the old code (this stand-in does not pace an answer that
is not streamed, so the old path would look far faster against it than against a model).

The first mention after start is in every series and is also reported on its own.

Run: python -m bench slack-stream [--stream-mentions 20]
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from bench.common import percentile, redis_server
from bench.discord import ANSWER
from handlers.slack.replies import APPEND_INTERVAL_SECONDS
from tests.e2e.harness import CHANNEL, RunningBot, make_settings
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import Call, FakeSlack

FIRST_TOKEN_DELAY = 0.3  # the stand-in's wait before the first piece
PIECE_CHARS = 8
PIECE_DELAY = 0.05  # 54 pieces of 8 characters: 2.7 s after the first one
TIMEOUT = 30.0


@dataclass
class Sample:
    status: float  # seconds from sending the event to the thinking status
    first_text: float  # ... to chat.startStream
    whole: float  # ... to chat.stopStream
    first_chars: int  # characters in chat.startStream
    appends: int  # chat.appendStream calls in between


def _summary(seconds: list[float]) -> dict[str, float]:
    """Median, p95, max and the first sample (the first mention after start), in milliseconds."""

    def ms(value: float) -> float:
        return round(value * 1000, 1)

    return {
        "n": len(seconds),
        "median_ms": ms(percentile(seconds, 50)),
        "p95_ms": ms(percentile(seconds, 95)),
        "max_ms": ms(max(seconds)),
        "first_ms": ms(seconds[0]),
    }


async def _measure(n: int, redis_url: str) -> list[Sample]:
    slack, openai = FakeSlack(), FakeOpenAI()
    openai.reply = ANSWER
    openai.reply_delay = FIRST_TOKEN_DELAY
    openai.stream_piece_chars = PIECE_CHARS
    openai.stream_piece_delay = PIECE_DELAY
    await slack.start()
    await openai.start()
    bot: RunningBot | None = None
    try:
        settings = make_settings(slack, openai, redis_url=redis_url)
        bot = await RunningBot.start(settings, watch=False, warm=True)
        # Done means the chat core returned (answer posted, turn recorded), so mentions never
        # overlap; one is in flight at a time, keyed by its thread.
        pending: dict[str, asyncio.Future] = {}
        chat_reply = bot.services.chat.reply

        async def observed_reply(incoming: Any, target: Any) -> Any:
            try:
                turn = await chat_reply(incoming, target)
            except BaseException as error:
                pending.pop(incoming.thread_ts).set_exception(error)
                raise
            pending.pop(incoming.thread_ts).set_result(turn)
            return turn

        bot.services.chat.reply = observed_reply

        def first(method: str, **params: str) -> Call:
            return next(
                call
                for call in slack.calls_to(method)
                if call.response is not None
                and call.response.get("ok")
                and all(call.params.get(key) == value for key, value in params.items())
            )

        samples = []
        for i in range(n):
            ts = bot.next_ts()
            pending[ts] = done = asyncio.get_running_loop().create_future()
            event = {
                "type": "app_mention",
                "user": "UALICE",
                "text": f"<@UBOT> what is step {i} of the deploy?",
                "ts": ts,
                "channel": CHANNEL,
                "event_ts": ts,
            }
            start = time.monotonic()
            await bot.send_event(event)
            turn = await asyncio.wait_for(done, TIMEOUT)
            status = first("assistant.threads.setStatus", channel_id=CHANNEL, thread_ts=ts)
            opened = first("chat.startStream", channel=CHANNEL, thread_ts=ts)
            reply_ts = opened.response["ts"]
            stopped = first("chat.stopStream", channel=CHANNEL, ts=reply_ts)
            assert turn is not None and turn.ts == reply_ts, turn
            assert slack.message(CHANNEL, reply_ts).text == ANSWER
            appends = [c for c in slack.calls_to("chat.appendStream") if c.params["ts"] == reply_ts]
            samples.append(
                Sample(
                    status=status.at - start,
                    first_text=opened.at - start,
                    whole=stopped.at - start,
                    first_chars=sum(len(c.get("text", "")) for c in opened.params["chunks"]),
                    appends=len(appends),
                )
            )
        return samples
    finally:
        if bot is not None:
            await bot.services.openai.close()
            await bot.stop()
        await slack.stop()
        await openai.stop()


LABELS = {
    "thinking_status": "mention -> thinking status",
    "first_visible_text": "mention -> first visible text (startStream)",
    "whole_reply": "mention -> whole reply (stopStream)",
    "today_first_visible_text": "before streaming: first text = whole reply",
}


def run(n: int = 20) -> dict[str, Any]:
    began = time.monotonic()
    # One log line per event is the bot's normal behaviour, but here it would only be noise.
    logging.disable(logging.WARNING)
    try:
        with redis_server() as server:
            samples = asyncio.run(_measure(n, server.url))
    finally:
        logging.disable(logging.NOTSET)
    elapsed = time.monotonic() - began
    figures = {
        "thinking_status": _summary([s.status for s in samples]),
        "first_visible_text": _summary([s.first_text for s in samples]),
        "whole_reply": _summary([s.whole for s in samples]),
    }
    figures["today_first_visible_text"] = figures["whole_reply"]
    pieces = -(-len(ANSWER) // PIECE_CHARS)
    settings = {
        "mentions": n,
        "model_first_token_delay_s": FIRST_TOKEN_DELAY,
        "answer_chars": len(ANSWER),
        "piece_chars": PIECE_CHARS,
        "piece_delay_s": PIECE_DELAY,
        "model_seconds_after_first_token": round(pieces * PIECE_DELAY, 3),
        "append_interval_s": APPEND_INTERVAL_SECONDS,
    }
    first_chars = sorted(s.first_chars for s in samples)
    appends = sorted(s.appends for s in samples)

    print(
        f"  {n} mentions, one after another; the model: first piece after"
        f" {FIRST_TOKEN_DELAY * 1000:.0f} ms, {len(ANSWER)} chars in {PIECE_CHARS}-char pieces"
        f" {PIECE_DELAY * 1000:.0f} ms apart ({settings['model_seconds_after_first_token']:.2f} s)"
    )
    print(f"  {'(ms)':<46} {'median':>8} {'p95':>8} {'max':>8} {'first':>8}")
    for name, row in figures.items():
        print(
            f"  {LABELS[name]:<46} {row['median_ms']:>8.1f} {row['p95_ms']:>8.1f}"
            f" {row['max_ms']:>8.1f} {row['first_ms']:>8.1f}"
        )
    print("  first = the first mention after start (also counted in the series)")
    print(
        "  before streaming the bot posted the whole answer once (chat.postMessage) when the model"
        " had finished,\n  so the first text came with the whole reply: the last row is the"
        " whole-reply figure, not a run of the old code"
    )
    print(
        f"  first text {first_chars[len(first_chars) // 2]} chars at the median"
        f" ({first_chars[0]}-{first_chars[-1]}); chat.appendStream calls per reply"
        f" {appends[len(appends) // 2]} ({appends[0]}-{appends[-1]})"
    )
    print(f"  run took {elapsed:.1f} s")
    return {
        "settings": settings,
        "latency": figures,
        "first_mention_after_start": {name: row["first_ms"] for name, row in figures.items()},
        "today_note": "before streaming, the first and only text came with the whole reply; "
        "reported from whole_reply, not measured with the old code",
        "first_text_chars": {"min": first_chars[0], "median": first_chars[len(first_chars) // 2]},
        "appends_per_reply": {"min": appends[0], "max": appends[-1]},
        "run_seconds": round(elapsed, 1),
    }
