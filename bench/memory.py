"""Memory benchmark: peak RSS over idle for `/finetune export` and `/finetune start`.

N examples are written into a real redis-server in the format `ExampleStore.vote` writes, with
threads whose earlier replies are approved or not (so export resolves history weights). Each case
runs in a fresh process that builds the core as the bot does (`bot.app.open_core`, the Slack
job reporter), waits until it is idle, resets the kernel's RSS high-water mark
(`/proc/self/clear_refs`), runs the command through `CommandService` as a person would type it,
and reads `VmHWM`: the figure is that peak minus the RSS just before the command.
- export: `/finetune export`, delivered by the Slack front end (`_show`) to the Slack stand-in;
- start: `/finetune start`, the file uploaded to the OpenAI stand-in and the job created.
The stand-ins run in a process of their own, so what they hold is not counted; they report what
they received, checked against the dataset (every line, byte for byte).

Run: python -m bench memory [--memory-sizes 10000 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from bench.common import redis_server
from bench.dataset import MODEL, TextMaker

TARGET_MB = 100
PREFIX = "bench"
ADMIN = "UADMIN"
ROOT = Path(__file__).resolve().parent.parent


# --- the data ------------------------------------------------------------------------------


def thread_examples(count: int, seed: int = 5) -> Iterator[tuple[Any, str]]:
    """`count` examples (and the time of their vote), as curation stores them: threads of 1-8
    turns, each reply approved with probability 1/2 (the last always), each approved reply an
    example holding the thread's earlier turns and their refs; ~30 threads interleaved."""
    from storage.schemas import Example, content_id

    rng = random.Random(seed)
    maker = TextMaker(rng)
    system = {"role": "system", "content": maker.sentence(90)}
    active: list[Iterator[Any]] = []
    threads = 0
    made = 0
    while made < count:
        while len(active) < 30:
            threads += 1
            active.append(_thread(rng, maker, system, threads))
        pick = rng.randrange(len(active))
        messages_and_refs = next(active[pick], None)
        if messages_and_refs is None:
            active.pop(pick)
            continue
        messages, source, history_refs = messages_and_refs
        made += 1
        example = Example(
            id=content_id(messages),
            messages=messages,
            history_refs=history_refs,
            model=MODEL,
            source=source,
            tokens=sum(len(str(m["content"])) // 4 for m in messages),
            people=["U1"],
        )
        yield example, f"{1_700_000_000 + made}.000000"


def _thread(rng: random.Random, maker: TextMaker, system: dict, thread: int) -> Iterator[Any]:
    turns = rng.choices([1, 2, 3, 4, 5, 6, 7, 8], [35, 25, 15, 10, 6, 4, 3, 2])[0]
    approved = [rng.random() < 0.5 for _ in range(turns)]
    approved[-1] = True
    earlier: list[dict[str, str]] = []
    refs: list[str] = []
    for turn in range(turns):
        user = {"role": "user", "content": maker.user_message()}
        reply = {"role": "assistant", "content": maker.reply()}
        ref = f"C1|{thread}.{turn:06d}"
        if approved[turn]:
            yield [system, *earlier, user, reply], ref, list(refs)
        earlier += [user, reply]
        refs.append(ref)


async def fill(redis: Any, examples: Iterable[tuple[Any, str]], prefix: str = PREFIX) -> None:
    """Write the examples with one vote each (by U1, at the time given), as the script of
    `ExampleStore.vote` does, but in pipelines (tests/bench checks both leave Redis alike)."""
    from storage.examples import CLOCK_TTL_SECONDS
    from storage.keys import Keys

    keys = Keys(prefix)
    pipe = redis.pipeline(transaction=False)
    for n, (example, event_time) in enumerate(examples, 1):
        member = f"U1|{example.source}"
        for person in example.people:
            pipe.sadd(keys.from_person(person), f"example:{example.id}")
        for ref in example.message_refs:
            pipe.sadd(keys.from_message(ref), f"example:{example.id}")
        pipe.hset(keys.vote_clock(example.source), member, event_time)
        pipe.expire(keys.vote_clock(example.source), CLOCK_TTL_SECONDS)
        pipe.set(keys.example(example.id), example.model_dump_json(), nx=True)
        pipe.hincrby(keys.dataset_stats, "tokens", example.tokens)
        pipe.hincrby(keys.dataset_stats, "examples", 1)
        pipe.sadd(keys.votes(example.id), member)
        pipe.hset(keys.approved_replies, example.source, example.id)
        pipe.zadd(keys.examples, {example.id: example.created_at.timestamp()}, nx=True)
        pipe.zadd(keys.voter_counts, {example.id: 1})
        if n % 500 == 0:
            await pipe.execute()
    await pipe.execute()


# --- one case, in a process of its own -----------------------------------------------------


def _status() -> dict[str, int]:
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) * 1024 for k in ("VmRSS", "VmHWM")}


def _reset_peak() -> None:
    # Writing 5 resets VmHWM to the current RSS (Linux >= 4.0).
    Path("/proc/self/clear_refs").write_text("5")


async def _run_case(case: str, redis_url: str, slack_api: str, openai_url: str) -> dict:
    from slack_bolt.context.respond.async_respond import AsyncRespond
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.app import open_core
    from bot.commands.results import Caller
    from bot.config import load_settings
    from bot.dataset.tokens import warm_up
    from handlers.slack.commands import _show
    from handlers.slack.reporter import SlackJobReporter

    settings = load_settings(
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="bench",
        slack_api_url=slack_api,
        openai_api_key="sk-test",
        openai_base_url=openai_url,
        redis_url=redis_url,
        redis_prefix=PREFIX,
        finetune_admins=ADMIN,
        chat_rate_per_minute=0,  # the whole load comes from one simulated person
        job_status_update_seconds=0,
        openai_timeout_seconds=600,
    )
    warm_up([settings.chat_model, settings.finetune_base_model])
    handle, services = open_core(settings)
    client = AsyncWebClient(token=settings.slack_bot_token, base_url=slack_api, timeout=600)
    services.reporters.add("slack", SlackJobReporter(client, interval=0))
    caller = Caller("slack", ADMIN, True, "C1")
    respond = AsyncRespond(response_url=slack_api.replace("/api/", "/response/bench"))
    # Idle: connected, everything imported and warmed once (the command is run once on nothing
    # in the bot's other prefix would load more code; the first real one does that too).
    await services.redis.ping()
    await services.examples.stats()
    gc.collect()
    await asyncio.sleep(0.2)
    _reset_peak()
    idle = _status()["VmRSS"]
    started = time.perf_counter()
    if case == "export":
        result = await services.commands.run_text("export", caller)
        await _show(result, ADMIN, respond, client)
        answer = type(result).__name__
        del result
    else:
        answer = str(await services.commands.run_text("start", caller))
    seconds = time.perf_counter() - started
    peak = _status()["VmHWM"]
    await services.close()
    with contextlib.suppress(Exception):
        await handle.close()
    return {
        "case": case,
        "idle_mb": round(idle / 1e6, 1),
        "peak_mb": round(peak / 1e6, 1),
        "over_idle_mb": round((peak - idle) / 1e6, 1),
        "seconds": round(seconds, 2),
        "answer": answer[:200],
        "temp_files_left": _temp_files(),
    }


def _temp_files() -> int:
    import tempfile

    pattern = re.compile(r"^(dataset|preferences|trainable|training|validation|finetune)-.*\.jsonl")
    return sum(1 for name in os.listdir(tempfile.gettempdir()) if pattern.match(name))


# --- the stand-ins, in a process of their own ----------------------------------------------


async def serve_fakes() -> None:

    from aiohttp import web

    from bench.fakes import serve_until_signalled
    from tests.fakes.openai_api import FakeOpenAI
    from tests.fakes.slack_api import FakeSlack

    slack, openai = FakeSlack(), FakeOpenAI()
    for fake in (slack, openai):
        fake.app._client_max_size = 2**31  # the 100k file is over the fakes' 256 MiB default

    def describe(name: str, content: bytes) -> dict[str, Any]:
        return {
            "filename": name,
            "bytes": len(content),
            "lines": content.count(b"\n"),
            "sha256": hashlib.sha256(content).hexdigest(),
        }

    async def received(_: web.Request) -> web.Response:
        jobs = openai.job_requests
        files = openai.files

        def of(file_id: str) -> dict[str, Any]:
            return describe(files[file_id].filename, files[file_id].content)

        return web.json_response(
            {
                "slack_uploads": [describe(u.filename, u.content) for u in slack.uploads],
                "training": [of(j["training_file"]) for j in jobs],
                "validation": [of(j["validation_file"]) for j in jobs if j.get("validation_file")],
            }
        )

    async def forget(_: web.Request) -> web.Response:
        slack.uploads.clear()
        openai.files.clear()
        openai.job_requests.clear()
        openai.jobs.clear()
        return web.json_response({"ok": True})

    slack.app.router.add_get("/bench/received", received)
    slack.app.router.add_post("/bench/forget", forget)
    await serve_until_signalled(slack, openai)


# --- the driver ----------------------------------------------------------------------------


async def _received(slack_base: str, forget: bool = False) -> dict:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        if forget:
            async with http.post(f"{slack_base}/bench/forget") as response:
                return await response.json()
        async with http.get(f"{slack_base}/bench/received") as response:
            return await response.json()


async def _expected(redis_url: str) -> dict[str, Any]:
    """What the bot should send: the export's lines, read through the core by this process."""
    from redis.asyncio import Redis

    from bot.dataset.export import Dataset, jsonl
    from storage.examples import ExampleStore
    from storage.keys import Keys
    from storage.pairs import PairStore
    from storage.vetoes import VetoStore

    client = Redis.from_url(redis_url, decode_responses=True, socket_timeout=120)
    keys = Keys(PREFIX)
    dataset = Dataset(ExampleStore(client, keys), VetoStore(client, keys), PairStore(client, keys))
    digest, size, lines = hashlib.sha256(), 0, 0
    async for line in dataset.training_lines():
        data = jsonl(line).encode()
        digest.update(data)
        size += len(data)
        lines += 1
    await client.aclose()
    return {"bytes": size, "lines": lines, "sha256": digest.hexdigest()}


async def _prepare(redis_url: str, count: int) -> dict[str, Any]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, decode_responses=True)
    await client.flushall()
    await fill(client, thread_examples(count))
    await client.aclose()
    return await _expected(redis_url)


def _child(case: str, redis_url: str, slack_base: str, openai_base: str) -> dict:
    command = [
        sys.executable,
        "-m",
        "bench.memory",
        "--case",
        case,
        "--redis",
        redis_url,
        "--slack",
        f"{slack_base}/api/",
        "--openai",
        f"{openai_base}/v1",
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{case} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _check(case: str, row: dict, received: dict, expected: dict) -> str:
    if case == "export":
        uploads = received["slack_uploads"]
        ok = len(uploads) == 1 and all(
            uploads[0][k] == expected[k] for k in ("bytes", "lines", "sha256")
        )
        return "the DM'd file equals the export" if ok else f"MISMATCH {uploads} vs {expected}"
    lines = sum(f["lines"] for f in received["training"] + received["validation"])
    if len(received["training"]) != 1 or lines != expected["lines"]:
        return f"MISMATCH: uploaded {lines} lines, expected {expected['lines']} ({row['answer']})"
    return f"uploaded {lines:,} lines (training + validation)"


def _forget_jobs(redis_url: str) -> None:
    """A start leaves its job holding the one-job lock (and its export): free it for the next."""
    import redis

    from storage.keys import Keys

    keys = Keys(PREFIX)
    client = redis.Redis.from_url(redis_url)
    stale = [keys.job_lock, keys.active_job]
    for pattern in (keys.job("*"), keys.job_export("*"), keys.job_metrics("*")):
        stale += list(client.scan_iter(match=pattern))
    client.delete(*stale)
    client.close()


def run(sizes: list[int]) -> dict[str, Any]:
    rows = []
    fakes = subprocess.Popen(
        [sys.executable, "-m", "bench.memory", "--serve-fakes"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        _, slack_port, openai_port = fakes.stdout.readline().split()
        slack_base = f"http://127.0.0.1:{slack_port}"
        openai_base = f"http://127.0.0.1:{openai_port}"
        with redis_server() as server:
            for count in sizes:
                started = time.perf_counter()
                expected = asyncio.run(_prepare(server.url, count))
                fill_seconds = time.perf_counter() - started
                for case in ("export", "start"):
                    asyncio.run(_received(slack_base, forget=True))
                    _forget_jobs(server.url)
                    row = _child(case, server.url, slack_base, openai_base)
                    check = _check(case, row, asyncio.run(_received(slack_base)), expected)
                    row.update(
                        examples=count,
                        jsonl_mb=round(expected["bytes"] / 1e6, 1),
                        fill_seconds=round(fill_seconds, 1),
                        check=check,
                        target_met=row["over_idle_mb"] < TARGET_MB,
                    )
                    rows.append(row)
                    print(
                        f"   {case:>6} {count:>7,} examples ({row['jsonl_mb']} MB JSONL): "
                        f"peak {row['peak_mb']} MB, idle {row['idle_mb']} MB, "
                        f"over idle {row['over_idle_mb']} MB in {row['seconds']} s; {check}; "
                        f"temp files left {row['temp_files_left']}",
                        flush=True,
                    )
    finally:
        fakes.terminate()
        fakes.wait(timeout=10)
    largest = [row for row in rows if row["examples"] == max(sizes)]
    verdict = {
        "target_mb_over_idle": TARGET_MB,
        "met_at_largest": bool(largest) and all(row["target_met"] for row in largest),
    }
    print(
        f"  target < {TARGET_MB} MB over idle at {max(sizes):,}: "
        f"{'met' if verdict['met_at_largest'] else 'MISSED'}"
    )
    return {"cases": rows, "verdict": verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description="one case of the memory benchmark")
    parser.add_argument("--serve-fakes", action="store_true")
    parser.add_argument("--case", choices=["export", "start"])
    parser.add_argument("--redis")
    parser.add_argument("--slack")
    parser.add_argument("--openai")
    args = parser.parse_args()
    if args.serve_fakes:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve_fakes())
        return
    print(json.dumps(asyncio.run(_run_case(args.case, args.redis, args.slack, args.openai))))


if __name__ == "__main__":
    main()
