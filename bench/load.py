"""Load: a steady stream of signed Slack requests into one `python -m bot` process.

Processes: a throwaway redis-server; the local Slack and OpenAI stand-ins (`bench.fakes`, the
model answering after `--reply-delay`); the bot (`python -m bot`, configured by environment
variables only, as in production); and this process, the load generator. The generator is open
loop: request i is due at start + i / rate and is sent then, whether or not earlier requests
have been answered; its ack latency is counted from when it was due, so a generator or bot
falling behind shows up in the figures instead of being hidden.

The mix: 40% mentions (each in a new thread), 40% curation reactions on replies recorded
beforehand (each on a different reply, so each must add one example), 20% `/finetune status`
or `/finetune help`. Afterwards: every reaction stored? every mention answered in its thread?
every command answered? And the bot's peak RSS (VmHWM).

Run: python -m bench load [--rate 200] [--duration 60] [--reply-delay 0.5]
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from hashlib import sha256
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from redis.asyncio import Redis

from bench.common import RESULTS_DIR, latency_summary, redis_server
from storage.keys import Keys
from storage.schemas import Turn
from storage.turns import TurnStore
from tests.conftest import free_port

SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test-token"  # what the Slack stand-in accepts
OPENAI_KEY = "sk-test"
PREFIX = "bench"
REPO = Path(__file__).resolve().parent.parent


def _signed(body: str, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:{body}".encode()
    signature = "v0=" + hmac.new(SECRET.encode(), base, sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


def _event(kind: str, i: int, reply_ts: str) -> tuple[str, str, str | None]:
    """(body, content type, the thread a reply is expected in) of request i."""
    if kind == "command":
        form = {
            "token": "legacy",
            "team_id": "T1",
            "channel_id": "C1",
            "user_id": "UALICE",
            "user_name": "alice",
            "command": "/finetune",
            "text": "status" if i % 2 else "help",
            "api_app_id": "A1",
            "response_url": "RESPONSE_URL",
            "trigger_id": f"trigger-{i}",
        }
        return urlencode(form), "application/x-www-form-urlencoded", None
    ts = f"1800000000.{i:06d}"
    if kind == "mention":
        event = {
            "type": "app_mention",
            "user": "UALICE",
            "text": f"<@UBOT> what is step {i} of the deploy?",
            "ts": ts,
            "channel": "C1",
            "event_ts": ts,
        }
        expected = ts
    else:
        event = {
            "type": "reaction_added",
            "user": "UBOB",
            "reaction": "+1",
            "item_user": "UBOT",
            "item": {"type": "message", "channel": "C1", "ts": reply_ts},
            "event_ts": f"{time.time():.6f}",
        }
        expected = None
    payload = {
        "token": "legacy",
        "team_id": "T1",
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{i:09d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": "T1", "user_id": "UBOT", "is_bot": True}],
    }
    return json.dumps(payload), "application/json", expected


async def _seed_turns(redis_url: str, count: int) -> list[str]:
    """Bot replies recorded beforehand, for the reactions to approve: their ts values."""
    client = Redis.from_url(redis_url)
    turns = TurnStore(client, Keys(PREFIX), ttl_seconds=3600)
    tss = [f"1700000000.{n:06d}" for n in range(count)]
    for start in range(0, count, 100):
        await asyncio.gather(
            *(
                turns.record(
                    Turn(
                        team="T1",
                        channel="C1",
                        thread_ts=ts,
                        ts=ts,
                        user="UALICE",
                        model="gpt-4.1-mini",
                        messages=[
                            {"role": "system", "content": "You are Captain Byte, a pirate."},
                            {"role": "user", "content": f"Tell me about deploy number {ts}."},
                        ],
                        reply="Arr, deploys be smooth sailin' when the pipeline be green.",
                    )
                )
                for ts in tss[start : start + 100]
            )
        )
    await client.aclose()
    return tss


def _start_fakes(reply_delay: float) -> tuple[subprocess.Popen, int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fakes", "--reply-delay", str(reply_delay)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline().split()
    if not line or line[0] != "ports":
        process.terminate()
        raise RuntimeError("the Slack/OpenAI stand-ins did not start")
    return process, int(line[1]), int(line[2])


def _start_bot(redis_url: str, slack_port: int, openai_port: int, workdir: str):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))},
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": PREFIX,
        "PORT": str(port),
        "CURATE_REACTIONS": "+1",
        "FINETUNE_ADMINS": "UADMIN",
        "DATA_DIR": workdir,
        "PYTHONPATH": str(REPO),
    }
    log = open(Path(workdir) / "bot.log", "w")  # noqa: SIM115 (closed with the process)
    # The working directory is empty, so no stray .env is read.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    return process, port, log


async def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.poll() is not None:
                raise RuntimeError("the bot exited during start-up (see its log)")
            try:
                async with session.get(f"{url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the bot did not become healthy within 30 s")


async def _stats(session: aiohttp.ClientSession, slack_url: str) -> dict[str, Any]:
    async with session.get(f"{slack_url}/bench/stats") as response:
        return await response.json()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


async def _drive(
    bot_url: str,
    slack_url: str,
    pid: int,
    redis_url: str,
    reply_ts: list[str],
    rate: float,
    duration: float,
) -> dict[str, Any]:
    total = int(rate * duration)
    rng = random.Random(5)
    kinds = rng.choices(["mention", "reaction", "command"], [40, 40, 20], k=total)
    response_url = f"{slack_url}/response/load"
    acks: dict[str, list[float]] = {"mention": [], "reaction": [], "command": []}
    late: list[float] = []
    timeline: list[tuple[float, str, float]] = []
    failures: list[str] = []
    expected_threads: set[str] = set()
    rss_samples: list[int] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        reactions = iter(reply_ts[:-1])

        async def send(i: int, due: float, kind: str, body: str, content_type: str) -> None:
            loop = asyncio.get_running_loop()
            late.append(loop.time() - due)
            try:
                headers = _signed(body, content_type)
                url = f"{bot_url}/slack/events"
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        failures.append(f"{kind} {i}: HTTP {response.status}")
            except aiohttp.ClientError as error:
                failures.append(f"{kind} {i}: {type(error).__name__}")
                return
            acks[kind].append(loop.time() - due)
            timeline.append((round(due - start, 3), kind, round(loop.time() - due, 4)))

        async def sample_rss() -> None:
            while True:
                rss_samples.append(_rss_kb(pid, "VmRSS"))
                await asyncio.sleep(0.5)

        # Warm-up, outside the figures: one request of each kind, answered before the load
        # starts. The first ones pay for loading the tokenizer, the Lua scripts and so on.
        loop = asyncio.get_running_loop()
        warm_start = loop.time()
        warm_acks = {}
        for n, kind in enumerate(["mention", "reaction", "command"]):
            body, content_type, _ = _event(kind, 999_999_990 + n, reply_ts[-1])
            body = body.replace("RESPONSE_URL", response_url)
            sent = loop.time()
            headers = _signed(body, content_type)
            async with session.post(f"{bot_url}/slack/events", data=body.encode(), headers=headers):
                warm_acks[kind] = round(loop.time() - sent, 3)
        warm_thread = "1800000000.999999990"
        for _ in range(600):
            stats = await _stats(session, slack_url)
            if warm_thread in stats["replied_threads"] and stats["command_responses"] >= 1:
                break
            await asyncio.sleep(0.05)
        warm_done = loop.time() - warm_start
        redis = Redis.from_url(redis_url, decode_responses=True)
        examples_key = Keys(PREFIX).examples
        warm_examples = await redis.zcard(examples_key)
        cpu_before = _cpu_seconds(pid)

        sampler = asyncio.create_task(sample_rss())
        tasks = []
        start = loop.time() + 0.2
        for i, kind in enumerate(kinds):
            reply = next(reactions) if kind == "reaction" else ""
            body, content_type, expected = _event(kind, i, reply)
            body = body.replace("RESPONSE_URL", response_url)
            if expected:
                expected_threads.add(expected)
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, due, kind, body, content_type)))
        send_seconds = loop.time() - start
        await asyncio.gather(*tasks)
        cpu_during_send = _cpu_seconds(pid) - cpu_before

        # Let the work after the ack finish: replies (the model is slow on purpose) and votes.
        n_commands = kinds.count("command")
        n_reactions = kinds.count("reaction")
        deadline = loop.time() + 60
        while True:
            stats = await _stats(session, slack_url)
            replied = expected_threads & set(stats["replied_threads"])
            stored = await redis.zcard(examples_key) - warm_examples
            done = (
                len(replied) == len(expected_threads)
                and stats["command_responses"] - 1 >= n_commands
                and stored >= n_reactions
            )
            if done or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        drained_after = loop.time() - start - send_seconds
        await redis.aclose()
        sampler.cancel()
        peak_kb = _rss_kb(pid, "VmHWM")

    all_acks = [a for values in acks.values() for a in values]
    return {
        "rate": rate,
        "duration_s": duration,
        "sent": total,
        "sent_mentions": len(expected_threads),
        "sent_reactions": n_reactions,
        "sent_commands": n_commands,
        "send_seconds": round(send_seconds, 2),
        "achieved_rate": round(total / send_seconds, 1),
        "warmup_ack_s": warm_acks,
        "warmup_all_done_s": round(warm_done, 3),
        "generator_lateness": latency_summary(late),
        "ack": latency_summary(all_acks),
        "ack_by_kind": {kind: latency_summary(values) for kind, values in acks.items()},
        "slowest_acks": sorted(timeline, key=lambda row: -row[2])[:10],
        "http_failures": len(failures),
        "failure_samples": failures[:10],
        "mentions_replied": len(replied),
        "mentions_lost": len(expected_threads) - len(replied),
        "replies_posted": len(stats["replied_threads"]) - 1,
        "reactions_stored": stored,
        "reactions_lost": n_reactions - stored,
        "command_responses": stats["command_responses"] - 1,
        "commands_lost": n_commands - (stats["command_responses"] - 1),
        "model_requests": stats["chat_requests"] - 1,
        "drained_within_s": round(drained_after, 2),
        "bot_cpu_share_while_sending": round(cpu_during_send / send_seconds, 2),
        "bot_peak_rss_mb": round(peak_kb / 1024, 1),
        "bot_rss_at_end_mb": round(rss_samples[-1] / 1024, 1) if rss_samples else None,
    }


def run(rate: float = 200, duration: float = 60, reply_delay: float = 0.5) -> dict[str, Any]:
    n_reactions_max = int(rate * duration) + 1  # enough replies to react to, and one to warm up
    with redis_server() as server, tempfile.TemporaryDirectory(prefix="bench-bot-") as workdir:
        reply_ts = asyncio.run(_seed_turns(server.url, n_reactions_max))
        fakes, slack_port, openai_port = _start_fakes(reply_delay)
        bot, port, log = _start_bot(server.url, slack_port, openai_port, workdir)
        try:
            bot_url = f"http://127.0.0.1:{port}"
            asyncio.run(_wait_healthy(bot_url, bot))
            idle_kb = _rss_kb(bot.pid, "VmRSS")
            result = asyncio.run(
                _drive(
                    bot_url,
                    f"http://127.0.0.1:{slack_port}",
                    bot.pid,
                    server.url,
                    reply_ts,
                    rate,
                    duration,
                )
            )
            result["bot_idle_rss_mb"] = round(idle_kb / 1024, 1)
            result["reply_delay_s"] = reply_delay
            errors = [
                line
                for line in (Path(workdir) / "bot.log").read_text().splitlines()
                if " ERROR " in line or "Traceback" in line
            ]
            result["bot_log_errors"] = len(errors)
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / "load-bot.log").write_text((Path(workdir) / "bot.log").read_text())
            result["bot_log_error_samples"] = errors[:5]
        finally:
            for process in (bot, fakes):
                process.terminate()
                process.wait(timeout=15)
            log.close()
    _print(result)
    return result


def _print(r: dict[str, Any]) -> None:
    ack = r["ack"]
    print(
        f"  sent {r['sent']:,} requests in {r['send_seconds']} s ({r['achieved_rate']}/s): "
        f"{r['sent_mentions']:,} mentions, {r['sent_reactions']:,} reactions, "
        f"{r['sent_commands']:,} commands; generator lateness p99 "
        f"{r['generator_lateness']['p99_ms']} ms"
    )
    print(
        f"  warm-up (not counted): first acks {r['warmup_ack_s']} s, all answered in "
        f"{r['warmup_all_done_s']} s"
    )
    print(f"  ack latency p50 {ack['p50_ms']} ms, p99 {ack['p99_ms']} ms, max {ack['max_ms']} ms")
    print(f"  slowest acks (due at s, kind, latency s): {r['slowest_acks'][:5]}")
    for kind, row in r["ack_by_kind"].items():
        print(f"    {kind:<9} p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms")
    print(
        f"  lost: mentions {r['mentions_lost']}, reactions {r['reactions_lost']}, "
        f"commands {r['commands_lost']}; HTTP failures {r['http_failures']}; "
        f"replies posted {r['replies_posted']:,}; all done {r['drained_within_s']} s after the "
        f"last send; bot log errors {r['bot_log_errors']}"
    )
    print(f"  bot CPU while sending: {r['bot_cpu_share_while_sending']} of one core")
    print(
        f"  bot RSS: idle {r['bot_idle_rss_mb']} MB, peak {r['bot_peak_rss_mb']} MB, "
        f"end {r['bot_rss_at_end_mb']} MB"
    )
    lost = r["mentions_lost"] + r["reactions_lost"] + r["commands_lost"] + r["http_failures"]
    print(
        f"  targets: ack p99 < 50 ms {'met' if ack['p99_ms'] < 50 else 'MISSED'}; "
        f"0 lost {'met' if lost == 0 else 'MISSED'}"
    )
