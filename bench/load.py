"""Load: signed Slack requests into `python -m bot`, one process or several behind one port.

Processes: a throwaway redis-server; the local Slack and OpenAI stand-ins (`bench.fakes`, the
model answering after `--reply-delay`); the bot (`python -m bot`, configured by environment
variables only, as in production; `WEB_CONCURRENCY` copies); and this process, the load
generator. The generator is open loop: request i is sent when it is due, whether or not earlier
ones were answered, and its ack latency is counted from when it was due, so falling behind
shows. Nothing is warmed up first: the first 20 requests of each kind after the start are
reported on their own.

The mix: 40% mentions (each in a new thread), 40% curation reactions on replies recorded
beforehand (each on a different reply, so each must add one example), 20% `/finetune status`
or `/finetune help`. Afterwards, up to 90 s: was every acknowledged vote stored, every mention
answered in its thread, every command answered? From the bot: loop lag (its /healthz), CPU and
peak RSS (VmHWM) of every bot process.

`python -m bench load` runs the whole set (about 10 minutes): the highest steady rate that
one process, then two, serve with ack p99 < 50 ms and nothing lost; 3x one process's rate
(at most 500/s); and a spike of 2,000 deliveries within one second, on 1 and 2 processes.
`--rate R [--duration D] [--processes N]` runs one steady rate; `--spike N` one spike.
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
import psutil
from redis.asyncio import Redis

from bench.common import RESULTS_DIR, latency_summary, redis_server
from storage.keys import Keys
from storage.schemas import MessageKey, Turn
from storage.turns import TurnStore
from tests.conftest import free_port

SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test-token"  # what the Slack stand-in accepts
OPENAI_KEY = "sk-test"
PREFIX = "bench"
HEALTHZ_TOKEN = "bench-healthz-token"  # /healthz shows pid and loop lag only with it
REPO = Path(__file__).resolve().parent.parent
FIRST = 20  # the first requests of each kind after start, reported on their own
SLACK_ACK_LIMIT = 3.0  # Slack counts a delivery not answered within 3 s as failed
ACK_P99_TARGET = 0.050
CAPACITY_RATES = [25, 50, 75, 100, 150, 200, 300, 400, 500]
RATE_CAP = 500  # where the generator itself starts to lag on 2 cores
DRAIN_SECONDS = 90


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
    """(body, content type, what must follow: the thread a reply is expected in, or the ref of
    the reply a reaction must approve) of request i."""
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
        expected = MessageKey("slack", "C1", reply_ts).ref
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


def _start_bot(redis_url: str, slack_port: int, openai_port: int, workdir: str, processes: int):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))},
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "HEALTHZ_TOKEN": HEALTHZ_TOKEN,
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": PREFIX,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(processes),
        "CURATE_REACTIONS": "+1",
        "FINETUNE_ADMINS": "UADMIN",
        "CHAT_RATE_PER_MINUTE": "0",  # the whole load comes from one simulated person
        "DATA_DIR": workdir,
        "PYTHONPATH": str(REPO),
    }
    log = open(Path(workdir) / "bot.log", "w")  # noqa: SIM115 (closed with the process)
    # The working directory is empty, so no stray .env is read.
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    return process, port, log


async def _healthz_by_pid(url: str, want: int, timeout: float = 60) -> dict[int, dict]:
    """/healthz of each serving process (asked on fresh connections until `want` answered)."""
    seen: dict[int, dict] = {}
    connector = aiohttp.TCPConnector(force_close=True)
    headers = {"Authorization": f"Bearer {HEALTHZ_TOKEN}"}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.monotonic() + timeout
        while len(seen) < want and time.monotonic() < deadline:
            try:
                async with session.get(f"{url}/healthz") as response:
                    body = await response.json()
                    if response.status == 200:
                        seen[body["pid"]] = body
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    return seen


async def _stats(session: aiohttp.ClientSession, slack_url: str) -> dict[str, Any]:
    async with session.get(f"{slack_url}/bench/stats") as response:
        return await response.json()


def _bot_processes(pid: int) -> list[psutil.Process]:
    """The bot's serving processes: the copies under a supervisor, or the one process."""
    process = psutil.Process(pid)
    return process.children() or [process]


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in processes)


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _schedule(rate: float, duration: float) -> list[float]:
    return [i / rate for i in range(int(rate * duration))]


def _spike(count: int, within: float = 1.0) -> list[float]:
    return [i * within / count for i in range(count)]


async def _drive(
    bot_url: str, slack_url: str, redis_url: str, reply_ts: list[str], due: list[float], bots
) -> dict[str, Any]:
    kinds = random.Random(5).choices(["mention", "reaction", "command"], [40, 40, 20], k=len(due))
    response_url = f"{slack_url}/response/load"
    acks: dict[str, list[float]] = {"mention": [], "reaction": [], "command": []}
    late: list[float] = []
    failures: list[str] = []
    over_limit = 0
    acked_votes: list[str] = []
    acked_threads: set[str] = set()
    rss_samples: list[int] = []
    loop = asyncio.get_running_loop()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        replies = iter(reply_ts)

        async def send(
            i: int, due_at: float, kind: str, body: str, content_type: str, expected: str | None
        ) -> None:
            nonlocal over_limit
            late.append(loop.time() - due_at)
            try:
                headers = _signed(body, content_type)
                url = f"{bot_url}/slack/events"
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as error:
                failures.append(f"{kind} {i}: {type(error).__name__}")
                return
            waited = loop.time() - due_at
            if status != 200:
                failures.append(f"{kind} {i}: HTTP {status}")
                return
            if waited > SLACK_ACK_LIMIT:
                over_limit += 1
            acks[kind].append(waited)
            if kind == "reaction":
                acked_votes.append(expected)
            elif kind == "mention":
                acked_threads.add(expected)

        async def sample_rss() -> None:
            while True:
                rss_samples.append(sum(_rss_kb(p.pid, "VmRSS") for p in bots))
                await asyncio.sleep(0.5)

        commands_before = (await _stats(session, slack_url))["command_responses"]
        cpu_before = _cpu_seconds(bots)
        sampler = asyncio.create_task(sample_rss())
        tasks = []
        start = loop.time() + 0.2
        for i, (offset, kind) in enumerate(zip(due, kinds, strict=True)):
            reply = next(replies) if kind == "reaction" else ""
            body, content_type, expected = _event(kind, i, reply)
            body = body.replace("RESPONSE_URL", response_url)
            due_at = start + offset
            if (delay := due_at - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i, due_at, kind, body, content_type, expected)))
        send_seconds = loop.time() - start
        await asyncio.gather(*tasks)
        # CPU over the time the acks took (a spike is sent in 1 s and acked over several).
        acked_seconds = loop.time() - start
        cpu_share = (_cpu_seconds(bots) - cpu_before) / acked_seconds
        lag = await _healthz_by_pid(bot_url, len(bots), timeout=10)

        # The work after the ack: replies (the model is slow on purpose), commands, late votes.
        redis = Redis.from_url(redis_url, decode_responses=True)
        approved_key = Keys(PREFIX).approved_replies
        n_commands = kinds.count("command")
        deadline = loop.time() + DRAIN_SECONDS
        while True:
            stats = await _stats(session, slack_url)
            replied = acked_threads & set(stats["replied_threads"])
            stored = set(await redis.hkeys(approved_key))
            commands = stats["command_responses"] - commands_before
            done = (
                len(replied) == len(acked_threads)
                and commands >= n_commands
                and stored >= set(acked_votes)
            )
            if done or loop.time() > deadline:
                break
            await asyncio.sleep(0.5)
        drained_after = loop.time() - start - send_seconds
        await redis.aclose()
        sampler.cancel()

    first = {kind: values[:FIRST] for kind, values in acks.items()}
    rest = [a for values in acks.values() for a in values[FIRST:]]
    lost_votes = len(set(acked_votes) - stored)
    sent_mentions = kinds.count("mention")
    return {
        "sent": len(due),
        "sent_by_kind": {kind: kinds.count(kind) for kind in acks},
        "send_seconds": round(send_seconds, 2),
        "achieved_rate": round(len(due) / max(send_seconds, 1e-9), 1),
        "generator_lateness": latency_summary(late),
        "ack": latency_summary([a for values in acks.values() for a in values]),
        "ack_first_20": {kind: latency_summary(values) for kind, values in first.items()},
        "ack_rest": latency_summary(rest),
        "http_failures": len(failures),
        "failure_samples": failures[:10],
        "acks_over_3s": over_limit,
        "failed_share": round((len(failures) + over_limit) / len(due), 5),
        "loop_lag_ms": {str(pid): body["loop_lag"] for pid, body in lag.items()},
        "votes_acked": len(acked_votes),
        "votes_acked_but_lost": lost_votes,
        "votes_told_not_saved": stats["votes_not_saved"],
        "mentions_unanswered": sent_mentions - len(replied),
        "late_notices": stats["late_notices"],
        "apologies": stats["apologies"],
        "commands_unanswered": n_commands - commands,
        "drained_within_s": round(drained_after, 2),
        "bot_cpu_cores_until_acked": round(cpu_share, 2),
        "bot_peak_rss_mb": [round(_rss_kb(p.pid, "VmHWM") / 1024, 1) for p in bots],
        "bot_rss_at_end_mb": round(rss_samples[-1] / 1024, 1) if rss_samples else None,
    }


def _lost(r: dict[str, Any]) -> int:
    return (
        r["http_failures"]
        + r["votes_acked_but_lost"]
        + r["votes_told_not_saved"]
        + r["mentions_unanswered"]
        + r["commands_unanswered"]
    )


def run_once(due: list[float], processes: int = 1, reply_delay: float = 0.5) -> dict[str, Any]:
    """One fresh Redis, stand-ins and bot; the requests `due` seconds after the start."""
    with redis_server() as server, tempfile.TemporaryDirectory(prefix="bench-bot-") as workdir:
        reply_ts = asyncio.run(_seed_turns(server.url, len(due)))
        fakes, slack_port, openai_port = _start_fakes(reply_delay)
        bot, port, log = _start_bot(server.url, slack_port, openai_port, workdir, processes)
        try:
            bot_url = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            ready = asyncio.run(_healthz_by_pid(bot_url, processes))
            if len(ready) < processes:
                raise RuntimeError(f"the bot did not become ready (see {workdir}/bot.log)")
            ready_after = time.monotonic() - started
            bots = _bot_processes(bot.pid)
            idle_kb = sum(_rss_kb(p.pid, "VmRSS") for p in bots)
            slack_url = f"http://127.0.0.1:{slack_port}"
            result = asyncio.run(_drive(bot_url, slack_url, server.url, reply_ts, due, bots))
            result.update(
                processes=processes,
                ready_after_s=round(ready_after, 2),
                reply_delay_s=reply_delay,
                bot_idle_rss_mb=round(idle_kb / 1024, 1),
            )
            text = (Path(workdir) / "bot.log").read_text()
            errors = [
                line for line in text.splitlines() if " ERROR " in line or "Traceback" in line
            ]
            result["bot_log_errors"] = len(errors)
            result["bot_log_error_samples"] = errors[:5]
            result["storage_unavailable_lines"] = text.count("storage unavailable")
            RESULTS_DIR.mkdir(parents=True, exist_ok=True)
            (RESULTS_DIR / "load-bot.log").write_text(text)
        finally:
            for process in (bot, fakes):
                process.terminate()
                process.wait(timeout=30)
            log.close()
    result["lost"] = _lost(result)
    result["met"] = {
        "ack_p99_under_50ms": result["ack"]["p99_ms"] < ACK_P99_TARGET * 1000,
        "nothing_lost": result["lost"] == 0,
        "failed_under_0.1%": result["failed_share"] < 0.001,
    }
    return result


def steady(rate: float, duration: float, processes: int = 1, reply_delay: float = 0.5):
    print(f"  -- {rate:g}/s for {duration:g} s, {processes} process(es)", flush=True)
    result = run_once(_schedule(rate, duration), processes, reply_delay)
    result.update(kind="steady", rate=rate, duration_s=duration)
    _print(result)
    return result


def spike(count: int, processes: int = 1, reply_delay: float = 0.5) -> dict[str, Any]:
    print(f"  -- spike: {count:,} deliveries within 1 s, {processes} process(es)", flush=True)
    result = run_once(_spike(count), processes, reply_delay)
    result.update(kind="spike", count=count)
    _print(result)
    return result


def capacity(processes: int, duration: float, reply_delay: float) -> tuple[float, list]:
    """The highest of CAPACITY_RATES served with ack p99 < 50 ms and nothing lost."""
    best, runs = 0.0, []
    for rate in CAPACITY_RATES:
        result = steady(rate, duration, processes, reply_delay)
        runs.append(result)
        if not (result["met"]["ack_p99_under_50ms"] and result["met"]["nothing_lost"]):
            break
        best = rate
    print(f"  => {processes} process(es): {best:g}/s", flush=True)
    return best, runs


def run(
    rate: float | None = None,
    duration: float = 15,
    reply_delay: float = 0.5,
    processes: int = 1,
    spike_count: int | None = None,
) -> dict[str, Any]:
    if rate:
        return steady(rate, duration, processes, reply_delay)
    if spike_count:
        return spike(spike_count, processes, reply_delay)
    one, runs_one = capacity(1, duration, reply_delay)
    two, runs_two = capacity(2, duration, reply_delay)
    over = min(3 * one, RATE_CAP)
    return {
        "capacity_per_s": {"1": one, "2": two},
        "capacity_runs": {"1": runs_one, "2": runs_two},
        "overload": steady(over, 20, 1, reply_delay),
        "spike": {"1": spike(2000, 1, reply_delay), "2": spike(2000, 2, reply_delay)},
    }


def _print(r: dict[str, Any]) -> None:
    ack, rest = r["ack"], r["ack_rest"]
    by_kind = r["sent_by_kind"]
    print(
        f"     sent {r['sent']:,} in {r['send_seconds']} s ({r['achieved_rate']}/s; "
        f"{by_kind['mention']} mentions, {by_kind['reaction']} reactions, "
        f"{by_kind['command']} commands); generator late p99 "
        f"{r['generator_lateness']['p99_ms']} ms; ready {r['ready_after_s']} s after start"
    )
    print(f"     ack all p50 {ack['p50_ms']} / p99 {ack['p99_ms']} / max {ack['max_ms']} ms")
    for kind, row in r["ack_first_20"].items():
        print(f"       first 20 {kind:<9} p50 {row['p50_ms']} / max {row['max_ms']} ms")
    print(
        f"       the rest     p50 {rest['p50_ms']} / p99 {rest['p99_ms']} / max {rest['max_ms']} ms"
    )
    lag = "; ".join(f"p99 {v['p99_ms']} max {v['max_ms']}" for v in r["loop_lag_ms"].values())
    print(f"     loop lag (ms, per process): {lag}")
    print(
        f"     HTTP failures {r['http_failures']}, acks over 3 s {r['acks_over_3s']} "
        f"(failed {r['failed_share'] * 100:.3f}%); votes acked {r['votes_acked']}, lost "
        f"{r['votes_acked_but_lost']}, told not saved {r['votes_told_not_saved']}; mentions "
        f"unanswered {r['mentions_unanswered']} (late notices {r['late_notices']}, apologies "
        f"{r['apologies']}); commands unanswered {r['commands_unanswered']}; all done "
        f"{r['drained_within_s']} s after the last send"
    )
    print(
        f"     bot CPU {r['bot_cpu_cores_until_acked']} cores until the last ack; RSS idle "
        f"{r['bot_idle_rss_mb']} MB, peak {r['bot_peak_rss_mb']} MB; log errors "
        f"{r['bot_log_errors']}, 'storage unavailable' {r['storage_unavailable_lines']}"
    )
    print(f"     targets: {r['met']}", flush=True)
