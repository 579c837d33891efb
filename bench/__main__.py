"""Benchmarks: `python -m bench` runs them all; `python -m bench
events|load|teams|dataset|discord|slack-stream|memory|redis-bytes|gate|redaction` runs one.

Each prints its figures and writes bench/results/<name>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse

from bench.common import write_results


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "which",
        nargs="?",
        default="all",
        choices=[
            "all",
            "events",
            "load",
            "teams",
            "dataset",
            "discord",
            "slack-stream",
            "memory",
            "redis-bytes",
            "gate",
            "redaction",
        ],
    )
    parser.add_argument("--events", type=int, default=2000, help="events per overhead series")
    parser.add_argument(
        "--rate",
        type=float,
        help="load, teams: one steady run at this rate (default: the whole set)",
    )
    parser.add_argument("--duration", type=float, default=15, help="load, teams: seconds per rate")
    parser.add_argument("--processes", type=int, default=1, help="load, teams: WEB_CONCURRENCY")
    parser.add_argument("--teams", type=int, default=1000, help="teams: Slack workspaces installed")
    parser.add_argument("--spike", type=int, help="load: one spike of this many deliveries")
    parser.add_argument(
        "--reply-delay", type=float, default=0.5, help="load, teams: model latency (s)"
    )
    parser.add_argument(
        "--discord-events",
        type=int,
        default=300,
        help="discord: mentions and reactions per series (a fifth as many streamed mentions)",
    )
    parser.add_argument(
        "--stream-mentions", type=int, default=20, help="slack-stream: mentions, one at a time"
    )
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument("--export-sizes", type=int, nargs="*", default=[1000, 10000, 100000])
    parser.add_argument(
        "--memory-sizes", type=int, nargs="*", default=[10000, 100000], help="memory: examples"
    )
    parser.add_argument("--turns", type=int, default=20, help="redis-bytes: turns in the thread")
    parser.add_argument("--gates", type=int, default=3000, help="gate: simulated gates per rate")
    args = parser.parse_args()

    if args.which in ("all", "events"):
        from bench import events

        print("== event overhead ==", flush=True)
        print(f"   -> {write_results('events', events.run(args.events))}")
    if args.which in ("all", "load"):
        from bench import load

        print("== load ==", flush=True)
        result = load.run(args.rate, args.duration, args.reply_delay, args.processes, args.spike)
        print(f"   -> {write_results('load', result)}")
    if args.which in ("all", "teams"):
        from bench import teams

        print("== teams ==", flush=True)
        result = teams.run(args.rate, args.duration, args.processes, args.teams, args.reply_delay)
        print(f"   -> {write_results('teams', result)}")
    if args.which in ("all", "dataset"):
        from bench import dataset

        print("== dataset ==", flush=True)
        result = dataset.run(args.sizes, args.export_sizes)
        print(f"   -> {write_results('dataset', result)}")
    if args.which in ("all", "discord"):
        from bench import discord

        print("== discord ==", flush=True)
        print(f"   -> {write_results('discord', discord.run(args.discord_events))}")
    if args.which in ("all", "slack-stream"):
        from bench import slack_stream

        print("== slack-stream ==", flush=True)
        result = slack_stream.run(args.stream_mentions)
        print(f"   -> {write_results('slack-stream', result)}")
    if args.which in ("all", "memory"):
        from bench import memory

        print("== memory ==", flush=True)
        print(f"   -> {write_results('memory', memory.run(args.memory_sizes))}")
    if args.which in ("all", "redis-bytes"):
        from bench import redis_bytes

        print("== redis-bytes ==", flush=True)
        print(f"   -> {write_results('redis-bytes', redis_bytes.run(args.turns))}")

    if args.which in ("all", "gate"):
        from bench import gate

        print("== gate ==", flush=True)
        print(f"   -> {write_results('gate', gate.run(args.gates))}")
    if args.which in ("all", "redaction"):
        from bench import redaction

        print("== redaction ==", flush=True)
        print(f"   -> {write_results('redaction', redaction.run())}")


if __name__ == "__main__":
    main()
