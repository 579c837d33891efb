"""The local Slack and OpenAI stand-ins in a process of their own, for the load benchmark.

Run: python -m bench.fakes --reply-delay 0.5 [--workspaces N]
Prints one line `ports <slack> <openai>`, then serves until SIGTERM. `GET /bench/stats` on the
Slack port tells what the bot has posted so far. `--workspaces N` (for `bench teams`): the Slack
stand-in also takes the bot tokens of N installed workspaces, `xoxb-bench-T0001`… (`bench_token`),
each answering `auth.test` for its own workspace.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from aiohttp import web

from bot.conversation.chat import ANSWER_FAILED_APOLOGY, LATE_REPLY_NOTICE
from bot.conversation.curation import VOTE_NOT_SAVED
from tests.fakes.openai_api import FakeOpenAI
from tests.fakes.slack_api import FakeSlack


def bench_workspace(number: int) -> str:
    """Workspace `number` (from 1) of `bench teams`: T0001, T0002, …"""
    return f"T{number:04d}"


def bench_token(workspace: str) -> str:
    """The bot token `bench teams` installs for `workspace`."""
    return f"xoxb-bench-{workspace}"


async def serve(reply_delay: float, workspaces: int = 0) -> None:
    slack = FakeSlack()
    for number in range(1, workspaces + 1):
        # As if each had installed the app: the token speaks for its workspace.
        slack.installed[bench_token(bench_workspace(number))] = bench_workspace(number)
    openai = FakeOpenAI()
    openai.reply = "Aye, that be done, matey."
    openai.reply_delay = reply_delay

    async def stats(_: web.Request) -> web.Response:
        # A reply is a streamed message that was stopped; notices are posted whole.
        stopped = (call.params for call in slack.calls_to("chat.stopStream"))
        replied = [slack.messages[(p["channel"], p["ts"])].thread_ts for p in stopped]
        posts = [call.params.get("text", "") for call in slack.calls_to("chat.postMessage")]
        ephemeral = [call.params.get("text", "") for call in slack.calls_to("chat.postEphemeral")]
        return web.json_response(
            {
                "replied_threads": replied,
                "late_notices": sum(LATE_REPLY_NOTICE in text for text in posts),
                "apologies": sum(ANSWER_FAILED_APOLOGY in m.text for m in slack.messages.values()),
                "votes_not_saved": sum(VOTE_NOT_SAVED in text for text in ephemeral),
                "ephemeral": len(ephemeral),
                "command_responses": len(slack.calls_to("response_url")),
                "chat_requests": len(openai.chat_requests),
            }
        )

    slack.app.router.add_get("/bench/stats", stats)
    await serve_until_signalled(slack, openai)


async def serve_until_signalled(slack: FakeSlack, openai: FakeOpenAI) -> None:
    """Start both stand-ins, print `ports <slack> <openai>`, serve until SIGINT or SIGTERM."""
    await slack.start()
    await openai.start()
    print(f"ports {slack.port} {openai.port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await slack.stop()
        await openai.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reply-delay", type=float, default=0.5)
    parser.add_argument("--workspaces", type=int, default=0, help="accept xoxb-bench-T0001…")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.reply_delay, args.workspaces))


if __name__ == "__main__":
    main()
