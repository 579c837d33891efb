"""Teams: 1,000 Slack workspaces on one deployment (TEAMS=many), on a 3-master Redis Cluster.

Processes: a Redis Cluster of three masters (`bench.cluster`, real `redis-server`s, no
replicas); the Slack and OpenAI stand-ins (`bench.fakes --workspaces N`: the Slack one takes the
bot tokens `xoxb-bench-T0001`… of N workspaces, the model answering after `--reply-delay`); the
bot (`python -m bot`, environment only, installed from a link: SLACK_CLIENT_ID, _SECRET,
SLACK_STATE_SECRET, TOKEN_ENCRYPTION_KEY, no SLACK_BOT_TOKEN, TEAMS=many, REDIS_CLUSTER=true;
`WEB_CONCURRENCY` copies); and this process, the open-loop generator of `bench.load`.

Before the bot starts: the N workspaces' installations are saved into the cluster with
`RedisInstallationStore` (encrypted with the run's Fernet key, as Bolt's OAuth flow saves them;
the flow itself has its own tests), and the bot replies the reactions will approve are recorded
in the keys of the team each belongs to. No team exists yet: each workspace's first event
creates its team (a directory write, its services built), and that first event's ack is what a
person of a new team sees, reported on its own.

Each request's workspace is drawn from a Zipf law (s = 1.1, T0001 the busiest): a few busy
teams, most quiet. The mix is `load`'s: 40% mentions (each a new thread), 40% `+1` reactions on
recorded replies, 20% `/finetune status` or `help`, each carrying its workspace's `team_id` (and
`authorizations[0].team_id`). Afterwards, up to 90 s, per team: is every acknowledged vote an
approved reply in that team's keys, every mention answered (a stopped stream at the Slack
stand-in and the turn in that team's keys), every command answered at its own response_url
(served by this process)? Then the cluster: keys, memory and commands per master, where the
teams' hash tags landed, the largest team's share of its slot and of all keys, and bytes per
team (`bench.teams_sizing`).

`python -m bench teams` steps the aggregate rate up (25, 50, 75, 100, 150, … /s, 15 s each) on
one process, then two, until ack p99 passes 50 ms or something is lost (a first step that
misses is followed by one at 10/s); starts the bot once more with every team already in the
directory (ready time, memory, what the teams cost with no event); and prints the on-paper
sizing for 10,000 teams. First of all it times a pipeline of 10 SETs on the bot's cluster
client with and without MULTI/EXEC. `--rate R [--duration D] [--processes P] [--teams N]` runs
one step.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from cryptography.fernet import Fernet
from redis.asyncio.cluster import RedisCluster
from slack_sdk.oauth.installation_store import Installation

from bench import teams_sizing
from bench.cluster import Cluster, cluster
from bench.common import RESULTS_DIR, latency_summary
from bench.fakes import bench_token, bench_workspace
from bench.load import (
    ACK_P99_TARGET,
    HEALTHZ_TOKEN,
    OPENAI_KEY,
    REPO,
    SECRET,
    SLACK_ACK_LIMIT,
    _bot_processes,
    _cpu_seconds,
    _healthz_by_pid,
    _rss_kb,
    _schedule,
    _signed,
    _stats,
)
from storage.installations import RedisInstallationStore, token_cipher
from storage.keys import Keys
from storage.schemas import MessageKey, Turn
from storage.teams import TeamDirectory, team_for_new_place
from storage.turns import TurnStore
from tests.conftest import free_port

PREFIX = "bench"
ZIPF_S = 1.1
TEAMS = 1000
CAPACITY_RATES = [25, 50, 75, 100, 150, 200, 300, 400]
FALLBACK_RATE = 10
DRAIN_SECONDS = 90
# What the stand-in answers for (tests/fakes/slack_api.py's app credentials).
CLIENT_ID, CLIENT_SECRET = "1111.2222", "fake-client-secret"
STATE_SECRET = "bench-state-secret"
TURN_TTL = 30 * 86400  # the bot's default TURN_TTL_DAYS


def team_of(workspace: str) -> str:
    """The team a workspace's first event creates (storage.teams.team_for_new_place)."""
    return f"slack-{workspace}"


def zipf_draw(count: int, teams: int, seed: int = 7) -> list[str]:
    """`count` workspaces drawn with P(rank k) ∝ k^-s: T0001 the busiest."""
    cumulative, total = [], 0.0
    for rank in range(1, teams + 1):
        total += rank**-ZIPF_S
        cumulative.append(total)
    rng = random.Random(seed)
    return [
        bench_workspace(bisect_left(cumulative, rng.random() * total) + 1) for _ in range(count)
    ]


# ----- before the bot: installations and recorded replies ----------------------------------------


async def _seed(url: str, key: str, teams: int, replies: list[tuple[str, str]]) -> None:
    """The N installations (as Bolt's flow saves them), and the replies to approve: (workspace,
    ts), each a turn in its team's keys."""
    client = RedisCluster.from_url(url, decode_responses=True)
    store = RedisInstallationStore(client, Keys(PREFIX), token_cipher(key))
    workspaces = [bench_workspace(n) for n in range(1, teams + 1)]
    for start in range(0, teams, 100):
        await asyncio.gather(
            *(store.async_save(_installation(w)) for w in workspaces[start:][:100])
        )
    stores: dict[str, TurnStore] = {}
    for start in range(0, len(replies), 100):
        batch = replies[start : start + 100]
        for workspace, _ in batch:
            if workspace not in stores:
                keys = Keys(PREFIX).team(team_of(workspace))
                stores[workspace] = TurnStore(client, keys, ttl_seconds=TURN_TTL)
        await asyncio.gather(*(stores[w].record(_turn(w, ts)) for w, ts in batch))
    await client.aclose()


def _installation(workspace: str) -> Installation:
    return Installation(
        app_id="A1",
        team_id=workspace,
        team_name=f"Bench {workspace}",
        bot_token=bench_token(workspace),
        bot_id="BBOT",
        bot_user_id="UBOT",
        bot_scopes="app_mentions:read,chat:write,commands,reactions:read",
        user_id=f"UINSTALLER{workspace}",
        installed_at=time.time(),
    )


def _turn(workspace: str, ts: str) -> Turn:
    return Turn(
        team=workspace,
        channel=f"C{workspace}",
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


# ----- the requests -----------------------------------------------------------------------------


def _request(kind: str, i: int, workspace: str, response_url: str) -> tuple[str, str, str]:
    """(body, content type, what must follow) of request i: a mention's thread ts, a
    reaction's reply ref, a command's response name."""
    channel = f"C{workspace}"
    if kind == "command":
        name = f"{workspace}-{i}"
        form = {
            "token": "legacy",
            "team_id": workspace,
            "team_domain": workspace.lower(),
            "channel_id": channel,
            "user_id": "UALICE",
            "user_name": "alice",
            "command": "/finetune",
            "text": "status" if i % 2 else "help",
            "api_app_id": "A1",
            "response_url": f"{response_url}/{name}",
            "trigger_id": f"trigger-{i}",
        }
        return urlencode(form), "application/x-www-form-urlencoded", name
    if kind == "mention":
        ts = f"1800000000.{i:06d}"
        event = {
            "type": "app_mention",
            "user": "UALICE",
            "text": f"<@UBOT> what is step {i} of the deploy?",
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
        expected = ts
    else:
        reply_ts = _reply_ts(i)
        event = {
            "type": "reaction_added",
            "user": "UBOB",
            "reaction": "+1",
            "item_user": "UBOT",
            "item": {"type": "message", "channel": channel, "ts": reply_ts},
            "event_ts": f"{time.time():.6f}",
        }
        expected = MessageKey("slack", channel, reply_ts).ref
    payload = {
        "token": "legacy",
        "team_id": workspace,
        "api_app_id": "A1",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{i:09d}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": workspace,
                "user_id": "UBOT",
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
    }
    return json.dumps(payload), "application/json", expected


def _reply_ts(i: int) -> str:
    # Not the stand-in's own ts range (1700000000.…), so no reply it posts overwrites one.
    return f"1600000000.{i:06d}"


class Responses:
    """The response_url of every command, served here: which were answered, and when."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.extra = 0  # a second answer to one command
        self.port = free_port()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/response"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/response/{name}", self._answered)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _answered(self, request: web.Request) -> web.Response:
        await request.read()
        name = request.match_info["name"]
        if name in self.at:
            self.extra += 1
        else:
            self.at[name] = asyncio.get_running_loop().time()
        return web.json_response({"ok": True})

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


# ----- one run ------------------------------------------------------------------------------------


async def _drive(
    bot_url: str,
    slack_url: str,
    redis_url: str,
    plan: list[tuple[str, str]],
    due: list[float],
    bots,
) -> dict[str, Any]:
    """Send `plan` ((kind, workspace) per request) at `due`; then wait until everything acked
    has followed, per team."""
    responses = Responses()
    await responses.start()
    loop = asyncio.get_running_loop()
    acks: list[tuple[str, str, bool, float]] = []  # kind, workspace, first of its team, seconds
    late: list[float] = []
    failures: list[str] = []
    over_limit = 0
    acked: dict[str, dict[str, list[str]]] = {}  # workspace -> kind -> what must follow
    due_of: dict[str, float] = {}  # command name -> when it was due
    rss_samples: list[int] = []
    seen: set[str] = set()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def send(
            i: int, due_at: float, kind: str, workspace: str, first: bool, body: str, ctype: str,
            expected: str,
        ) -> None:  # fmt: skip
            nonlocal over_limit
            late.append(loop.time() - due_at)
            try:
                headers = _signed(body, ctype)
                url = f"{bot_url}/slack/events"
                async with session.post(url, data=body.encode(), headers=headers) as response:
                    await response.read()
                    status = response.status
            except aiohttp.ClientError as error:
                failures.append(f"{kind} {i} {workspace}: {type(error).__name__}")
                return
            waited = loop.time() - due_at
            if status != 200:
                failures.append(f"{kind} {i} {workspace}: HTTP {status}")
                return
            if waited > SLACK_ACK_LIMIT:
                over_limit += 1
            acks.append((kind, workspace, first, waited))
            acked.setdefault(workspace, {}).setdefault(kind, []).append(expected)

        async def sample_rss() -> None:
            while True:
                rss_samples.append(sum(_rss_kb(p.pid, "VmRSS") for p in bots))
                await asyncio.sleep(0.5)

        cpu_before = _cpu_seconds(bots)
        sampler = asyncio.create_task(sample_rss())
        tasks = []
        start = loop.time() + 0.2
        for i, ((kind, workspace), offset) in enumerate(zip(plan, due, strict=True)):
            body, ctype, expected = _request(kind, i, workspace, responses.url)
            first = workspace not in seen
            seen.add(workspace)
            due_at = start + offset
            if kind == "command":
                due_of[expected] = due_at
            if (delay := due_at - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(
                asyncio.create_task(send(i, due_at, kind, workspace, first, body, ctype, expected))
            )
        send_seconds = loop.time() - start
        await asyncio.gather(*tasks)
        acked_seconds = loop.time() - start
        cpu_share = (_cpu_seconds(bots) - cpu_before) / acked_seconds
        lag = await _healthz_by_pid(bot_url, len(bots), timeout=10)

        redis = RedisCluster.from_url(redis_url, decode_responses=True)
        deadline = loop.time() + DRAIN_SECONDS
        followed = await _follow(redis, session, slack_url, responses, acked, deadline)
        drained_after = loop.time() - start - send_seconds
        directory = Keys(PREFIX)
        places = await redis.hlen(directory.team_places)
        records = await redis.hlen(directory.team_records)
        await redis.aclose()
        sampler.cancel()
        stats = await _stats(session, slack_url)
    await responses.stop()

    kinds = [kind for kind, _ in plan]
    first = [a for _, _, is_first, a in acks if is_first]
    rest = [a for _, _, is_first, a in acks if not is_first]
    answered_in = [responses.at[name] - due_of[name] for name in responses.at if name in due_of]
    per_team = Counter(workspace for _, workspace in plan)
    busiest, busiest_n = per_team.most_common(1)[0]
    duration = max(due) + (due[1] - due[0] if len(due) > 1 else 1.0)
    return {
        "sent": len(due),
        "sent_by_kind": {kind: kinds.count(kind) for kind in ("mention", "reaction", "command")},
        "send_seconds": round(send_seconds, 2),
        "achieved_rate": round(len(due) / max(send_seconds, 1e-9), 1),
        "teams_touched": len(per_team),
        "busiest_team": {
            "workspace": busiest,
            "events": busiest_n,
            "share": round(busiest_n / len(plan), 4),
            "rate_per_s": round(busiest_n / duration, 2),
        },
        "top10_share": round(sum(n for _, n in per_team.most_common(10)) / len(plan), 4),
        "teams_with_one_event": sum(1 for n in per_team.values() if n == 1),
        "generator_lateness": latency_summary(late),
        "ack": latency_summary([a for *_, a in acks]),
        "ack_first_of_team": latency_summary(first),
        "ack_first_of_team_by_kind": {
            kind: latency_summary([a for k, _, f, a in acks if f and k == kind])
            for kind in ("mention", "reaction", "command")
        },
        "ack_rest": latency_summary(rest),
        "command_answered_after": latency_summary(answered_in),
        "http_failures": len(failures),
        "failure_samples": failures[:10],
        "acks_over_3s": over_limit,
        "loop_lag_ms": {str(pid): body["loop_lag"] for pid, body in lag.items()},
        **followed,
        "commands_answered_twice": responses.extra,
        "votes_told_not_saved": stats["votes_not_saved"],
        "late_notices": stats["late_notices"],
        "apologies": stats["apologies"],
        "drained_within_s": round(drained_after, 2),
        "directory_places": places,
        "directory_records": records,
        "bot_cpu_cores_until_acked": round(cpu_share, 2),
        "bot_peak_rss_mb": [round(_rss_kb(p.pid, "VmHWM") / 1024, 1) for p in bots],
        "bot_rss_at_end_mb": round(rss_samples[-1] / 1024, 1) if rss_samples else None,
    }


async def _follow(
    redis: RedisCluster,
    session: aiohttp.ClientSession,
    slack_url: str,
    responses: Responses,
    acked: dict[str, dict[str, list[str]]],
    deadline: float,
) -> dict[str, Any]:
    """Wait until, per team, every acked vote is stored, mention answered and command answered
    (or the deadline); what is still missing then is lost."""
    loop = asyncio.get_running_loop()
    votes = {(w, ref) for w, by in acked.items() for ref in by.get("reaction", [])}
    mentions = {(w, ts) for w, by in acked.items() for ts in by.get("mention", [])}
    commands = {(w, name) for w, by in acked.items() for name in by.get("command", [])}
    while True:
        replied = set((await _stats(session, slack_url))["replied_threads"])
        votes -= await _present(
            redis,
            [(w, r) for w, r in votes],
            lambda w, r: ("hexists", Keys(PREFIX).team(team_of(w)).approved_replies, r),
        )
        ready = [(w, ts) for w, ts in mentions if ts in replied]
        mentions -= await _present(
            redis,
            ready,
            lambda w, ts: ("exists", Keys(PREFIX).team(team_of(w)).thread(
                MessageKey("slack", f"C{w}", ts))),
        )  # fmt: skip
        commands = {(w, name) for w, name in commands if name not in responses.at}
        if not (votes or mentions or commands) or loop.time() > deadline:
            break
        await asyncio.sleep(1.0)
    lost_teams = {w for w, _ in votes | mentions | commands}
    return {
        "votes_acked": sum(len(by.get("reaction", [])) for by in acked.values()),
        "votes_acked_but_lost": len(votes),
        "mentions_unanswered": len(mentions),
        "mentions_unanswered_by_team": _by_team(mentions),
        "commands_unanswered": len(commands),
        "commands_unanswered_by_team": _by_team(commands),
        "votes_lost_by_team": _by_team(votes),
        "teams_with_something_lost": len(lost_teams),
    }


def _by_team(items: set[tuple[str, str]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for workspace, _ in items:
        found[workspace] = found.get(workspace, 0) + 1
    return dict(sorted(found.items()))


async def _present(redis: RedisCluster, items: list[tuple[str, str]], command) -> set:
    """Which of `items` Redis has (`command(workspace, what)` -> one command), pipelined."""
    found = set()
    for start in range(0, len(items), 500):
        batch = items[start : start + 500]
        pipe = redis.pipeline(transaction=False)
        for workspace, what in batch:
            name, *args = command(workspace, what)
            getattr(pipe, name)(*args)
        for item, present in zip(batch, await pipe.execute(), strict=True):
            if present:
                found.add(item)
    return found


def _start_fakes(reply_delay: float, teams: int) -> tuple[subprocess.Popen, int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.fakes", "--reply-delay", str(reply_delay),
         "--workspaces", str(teams)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    line = process.stdout.readline().split()
    if not line or line[0] != "ports":
        process.terminate()
        raise RuntimeError("the Slack/OpenAI stand-ins did not start")
    return process, int(line[1]), int(line[2])


def _start_bot(redis_url: str, key: str, slack_port: int, openai_port: int, workdir: str, n: int):
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))},
        # Installed from a link: every workspace's token is in Redis, none in the environment.
        "SLACK_CLIENT_ID": CLIENT_ID,
        "SLACK_CLIENT_SECRET": CLIENT_SECRET,
        "SLACK_STATE_SECRET": STATE_SECRET,
        "TOKEN_ENCRYPTION_KEY": key,
        "TEAMS": "many",
        "SLACK_SIGNING_SECRET": SECRET,
        "HEALTHZ_TOKEN": HEALTHZ_TOKEN,
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api/",
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{openai_port}/v1",
        "REDIS_URL": redis_url,
        "REDIS_CLUSTER": "true",
        "REDIS_PREFIX": PREFIX,
        "PORT": str(port),
        "WEB_CONCURRENCY": str(n),
        "CURATE_REACTIONS": "+1",
        "CHAT_RATE_PER_MINUTE": "0",  # each team's load comes from one simulated person
        "DATA_DIR": workdir,
        "PYTHONPATH": str(REPO),
    }
    log = open(Path(workdir) / "bot.log", "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=workdir, env=env, stdout=log, stderr=log
    )
    return process, port, log


def run_once(
    nodes: Cluster,
    rate: float,
    duration: float,
    processes: int = 1,
    teams: int = TEAMS,
    reply_delay: float = 0.5,
) -> dict[str, Any]:
    """A fresh (flushed) cluster, stand-ins and bot; `rate`/s for `duration` s over `teams`."""
    due = _schedule(rate, duration)
    kinds = random.Random(5).choices(["mention", "reaction", "command"], [40, 40, 20], k=len(due))
    plan = list(zip(kinds, zipf_draw(len(due), teams), strict=True))
    replies = [(w, _reply_ts(i)) for i, (kind, w) in enumerate(plan) if kind == "reaction"]
    key = Fernet.generate_key().decode()
    load_average = os.getloadavg()  # other work on the machine shows here
    nodes.flush()
    started = time.monotonic()
    asyncio.run(_seed(nodes.url, key, teams, replies))
    seeded_after = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as workdir:
        fakes, slack_port, openai_port = _start_fakes(reply_delay, teams)
        bot, port, log = _start_bot(nodes.url, key, slack_port, openai_port, workdir, processes)
        try:
            bot_url = f"http://127.0.0.1:{port}"
            started = time.monotonic()
            ready = asyncio.run(_healthz_by_pid(bot_url, processes, timeout=120))
            if len(ready) < processes:
                raise RuntimeError(f"the bot did not become ready: {_tail(workdir)}")
            ready_after = time.monotonic() - started
            bots = _bot_processes(bot.pid)
            idle_kb = sum(_rss_kb(p.pid, "VmRSS") for p in bots)
            commands_before = teams_sizing.commands_per_master(nodes)
            slack_url = f"http://127.0.0.1:{slack_port}"
            result = asyncio.run(_drive(bot_url, slack_url, nodes.url, plan, due, bots))
            result["redis_commands_per_master"] = {
                port: n - commands_before[port]
                for port, n in teams_sizing.commands_per_master(nodes).items()
            }
            result.update(
                processes=processes,
                teams_installed=teams,
                load_average_at_start=[round(x, 2) for x in load_average],
                seeded_in_s=round(seeded_after, 2),
                ready_after_s=round(ready_after, 2),
                reply_delay_s=reply_delay,
                bot_idle_rss_mb=round(idle_kb / 1024, 1),
            )
            result.update(_log_facts(workdir, "teams-bot.log"))
        finally:
            for process in (bot, fakes):
                process.terminate()
                process.wait(timeout=30)
            log.close()
    result["cluster"] = asyncio.run(teams_sizing.cluster_report(nodes, PREFIX, teams))
    result["lost"] = (
        result["http_failures"]
        + result["votes_acked_but_lost"]
        + result["votes_told_not_saved"]
        + result["mentions_unanswered"]
        + result["commands_unanswered"]
    )
    result["met"] = {
        "ack_p99_under_50ms": result["ack"]["p99_ms"] < ACK_P99_TARGET * 1000,
        "nothing_lost": result["lost"] == 0,
        "a_team_per_workspace": result["directory_places"] == result["teams_touched"],
    }
    return result


async def _claim_all(url: str, teams: int) -> None:
    """Every workspace's team in the directory, as their first events would have made them."""
    client = RedisCluster.from_url(url, decode_responses=True)
    directory = TeamDirectory(client, Keys(PREFIX))
    places = [f"slack:{bench_workspace(n)}" for n in range(1, teams + 1)]
    for start in range(0, teams, 100):
        batch = places[start : start + 100]
        await asyncio.gather(*(directory.claim(p, team_for_new_place(p)) for p in batch))
    await client.aclose()


def restart(nodes: Cluster, teams: int, reply_delay: float, burst: float = 10, idle: float = 30):
    """`python -m bot` starting with `teams` teams already in the directory (a deploy, a
    restart): how long until ready, its memory, and what the teams' background work (a watcher
    per team, ticking every JOB_POLL_SECONDS = 30 s) costs while no event arrives: the first
    `burst` seconds after ready, then `idle` seconds."""
    print(f"  -- start with {teams:,} teams in the directory, then idle", flush=True)
    key = Fernet.generate_key().decode()
    nodes.flush()
    asyncio.run(_seed(nodes.url, key, teams, []))
    asyncio.run(_claim_all(nodes.url, teams))
    with tempfile.TemporaryDirectory(prefix="bench-bot-") as workdir:
        fakes, slack_port, openai_port = _start_fakes(reply_delay, teams)
        bot, port, log = _start_bot(nodes.url, key, slack_port, openai_port, workdir, 1)
        try:
            started = time.monotonic()
            ready = asyncio.run(_healthz_by_pid(f"http://127.0.0.1:{port}", 1, timeout=300))
            if not ready:
                raise RuntimeError(f"the bot did not become ready: {_tail(workdir)}")
            ready_after = time.monotonic() - started
            bots = _bot_processes(bot.pid)
            windows = {}
            for name, seconds in (("burst", burst), ("idle", idle)):
                cpu, commands = _cpu_seconds(bots), teams_sizing.commands_per_master(nodes)
                time.sleep(seconds)
                after = teams_sizing.commands_per_master(nodes)
                windows[name] = {
                    "seconds": seconds,
                    "bot_cpu_cores": round((_cpu_seconds(bots) - cpu) / seconds, 3),
                    "redis_commands_per_s": round(
                        sum(after[p] - commands[p] for p in after) / seconds, 1
                    ),
                }
            result = {
                "teams": teams,
                "ready_after_s": round(ready_after, 2),
                "bot_rss_mb": round(_rss_kb(bots[0].pid, "VmRSS") / 1024, 1),
                "bot_peak_rss_mb": round(_rss_kb(bots[0].pid, "VmHWM") / 1024, 1),
                "windows": windows,
            }
        finally:
            for process in (bot, fakes):
                process.terminate()
                process.wait(timeout=30)
            log.close()
        result.update(_log_facts(workdir, "teams-restart-bot.log"))
    burst_w, idle_w = windows["burst"], windows["idle"]
    print(
        f"     ready {result['ready_after_s']} s after start; RSS {result['bot_rss_mb']} MB "
        f"(peak {result['bot_peak_rss_mb']} MB); first {burst:g} s: bot CPU "
        f"{burst_w['bot_cpu_cores']} cores, Redis {burst_w['redis_commands_per_s']:,} "
        f"commands/s; next {idle:g} s idle: bot CPU {idle_w['bot_cpu_cores']} cores, Redis "
        f"{idle_w['redis_commands_per_s']:,} commands/s "
        f"({idle_w['redis_commands_per_s'] / teams:.2f}/s per team); model listings (GET "
        f"/v1/models) {result['model_listings']:,}; 'storage unavailable' "
        f"{result['storage_unavailable_lines']:,} times; log errors {result['bot_log_errors']}",
        flush=True,
    )
    return result


def _log_facts(workdir: str, keep_as: str) -> dict[str, Any]:
    """What the bot's log says: errors, warnings, and how often it listed the provider's models
    (`GET /v1/models`, read per team: each team's services have a `Lifecycle` of their own)."""
    text = (Path(workdir) / "bot.log").read_text()
    lines = text.splitlines()
    errors = [line for line in lines if " ERROR " in line or "Traceback" in line]
    warnings = [line for line in lines if " WARNING " in line]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / keep_as).write_text(text)
    return {
        "bot_log_errors": len(errors),
        "bot_log_error_samples": errors[:5],
        "bot_log_warnings": len(warnings),
        "bot_log_warning_samples": warnings[:5],
        "model_listings": sum('/v1/models "HTTP' in line for line in lines),
        # Redis healthy all along: the cluster client's 100 connections per node ran out
        # (MaxConnectionsError, reported by the bot as storage unavailable).
        "storage_unavailable_lines": text.count("storage unavailable"),
    }


def _tail(workdir: str) -> str:
    lines = (Path(workdir) / "bot.log").read_text().splitlines()
    return " | ".join(lines[-5:])


def steady(nodes: Cluster, rate: float, duration: float, processes: int, teams: int, delay: float):
    print(
        f"  -- {rate:g}/s for {duration:g} s, {processes} process(es), {teams:,} workspaces "
        "installed",
        flush=True,
    )
    result = run_once(nodes, rate, duration, processes, teams, delay)
    result.update(kind="steady", rate=rate, duration_s=duration)
    teams_sizing.print_run(result)
    return result


def capacity(nodes: Cluster, processes: int, duration: float, teams: int, delay: float):
    """The highest of CAPACITY_RATES served with ack p99 < 50 ms and nothing lost."""
    best, runs = 0.0, []
    rates = list(CAPACITY_RATES)
    while rates:
        rate = rates.pop(0)
        result = steady(nodes, rate, duration, processes, teams, delay)
        runs.append(result)
        if not (result["met"]["ack_p99_under_50ms"] and result["met"]["nothing_lost"]):
            if rate == CAPACITY_RATES[0]:
                rates = [FALLBACK_RATE]  # the first step missed: one lower, for a figure at all
                continue
            break
        best = max(best, rate)
    print(f"  => {processes} process(es): {best:g}/s over {teams:,} teams", flush=True)
    return best, runs


async def _pipeline_cost(url: str, count: int = 100) -> dict[str, Any]:
    """What one MULTI/EXEC pipeline of 10 SETs costs the bot's cluster client (redis-py's
    async RedisCluster, as `storage.connection` opens it) and how long it stops the event
    loop, against the same pipeline without MULTI: the turn, the provenance and the vote
    journal are written in such transactions."""
    client = RedisCluster.from_url(url, decode_responses=True)
    await client.ping()
    found = {}
    for transaction in (True, False):
        stalls: list[float] = []
        done = asyncio.Event()

        async def ticker(stalls=stalls, done=done) -> None:
            loop = asyncio.get_running_loop()
            while not done.is_set():
                before = loop.time()
                await asyncio.sleep(0.001)
                stalls.append(loop.time() - before - 0.001)

        ticking = asyncio.create_task(ticker())
        started = time.perf_counter()
        for _ in range(count):
            async with client.pipeline(transaction=transaction) as pipe:
                for n in range(10):
                    pipe.set(f"bot:{{{PREFIX}.pipeline-check}}:{n}", "x", ex=60)
                await pipe.execute()
        seconds = (time.perf_counter() - started) / count
        done.set()
        await ticking
        found["multi" if transaction else "plain"] = {
            "ms_per_pipeline": round(seconds * 1000, 2),
            "loop_stall_max_ms": round(max(stalls) * 1000, 1),
        }
    await client.aclose()
    return found


def pipeline_check(nodes: Cluster) -> dict[str, Any]:
    found = asyncio.run(_pipeline_cost(nodes.url))
    multi, plain = found["multi"], found["plain"]
    print(
        f"  cluster client: a pipeline of 10 SETs with MULTI/EXEC {multi['ms_per_pipeline']} ms "
        f"(event loop stopped up to {multi['loop_stall_max_ms']} ms), without "
        f"{plain['ms_per_pipeline']} ms (up to {plain['loop_stall_max_ms']} ms)",
        flush=True,
    )
    return found


def run(
    rate: float | None = None,
    duration: float = 15,
    processes: int = 1,
    teams: int = TEAMS,
    reply_delay: float = 0.5,
) -> dict[str, Any]:
    with cluster(3) as nodes:
        pipelines = pipeline_check(nodes)
        if rate:
            result = steady(nodes, rate, duration, processes, teams, reply_delay)
            teams_sizing.print_cluster(result["cluster"])
            met = result["met"]["ack_p99_under_50ms"] and result["met"]["nothing_lost"]
            sizing = teams_sizing.sizing(
                {str(processes): rate if met else 0.0}, result["cluster"], one_run=True
            )
            return {**result, "cluster_pipeline_cost": pipelines, "sizing_10000": sizing}
        one, runs_one = capacity(nodes, 1, duration, teams, reply_delay)
        two, runs_two = capacity(nodes, 2, duration, teams, reply_delay)
        last = runs_two[-1]
        teams_sizing.print_cluster(last["cluster"])
        started_known = restart(nodes, teams, reply_delay)
    # Bytes per team from the run with the most examples (the busiest one that was stepped).
    richest = max([*runs_one, *runs_two], key=lambda r: r["cluster"]["memory"]["examples"])
    sizing = teams_sizing.sizing(
        {"1": one, "2": two}, richest["cluster"], one_run=False, background=started_known
    )
    return {
        "capacity_per_s": {"1": one, "2": two},
        "capacity_runs": {"1": runs_one, "2": runs_two},
        "cluster_after_last_run": last["cluster"],
        "start_with_teams_known": started_known,
        "cluster_pipeline_cost": pipelines,
        "memory_from_run": f"{richest['processes']} process(es), {richest['rate']:g}/s",
        "sizing_10000": sizing,
    }
