"""`bench teams`: what the cluster holds after a run, and the sizing for 10,000 teams on paper.

The cluster report reads every master: DBSIZE, used_memory, commands processed; where each
team's hash tag (`bot:{bench.slack-T0001}:…`) and the deployment's own (`bot:{bench}:…`) landed
(`CLUSTER KEYSLOT`); the largest team's share of the keys of its slot (`CLUSTER
COUNTKEYSINSLOT`) and of all keys; and every key's `MEMORY USAGE … SAMPLES 0`, grouped:
- a team's *lasting* keys (no expiry: its dataset: examples, votes, indexes, counters),
- its *turns* (the conversation keys, kept TURN_TTL_DAYS: turn, thread, texts, provenance),
- its *short-lived* keys (everything else that expires: event dedupe marks, leases, clocks),
- the deployment's: installations (one encrypted hash per workspace) and the team directory.

Bytes per team: a least-squares line of each team's lasting bytes over its examples: the
intercept is what a team costs without examples, the slope what an example costs.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from redis.asyncio import Redis
from redis.crc import key_slot

from bench.cluster import Cluster, cli

CONVERSATION_KINDS = {
    "turn",
    "thread",
    "turn-texts",
    "conversation-turns",
    "turns-from-message",
    "turns-from-person",
}
INSTALLATION_KINDS = {"slack-installation", "slack-installations"}
DIRECTORY_KINDS = {"team-places", "team-records", "team-activity"}  # one entry per team

# The assumptions of the sizing (printed with it).
TEAMS_SIZED = 10_000
MEDIAN_EVENTS_PER_HOUR = 6  # the median team, in its busy hours: a few questions and votes
ZIPF_S = 1.1  # the spread of the benchmark's draw
SLACK_EVENTS_PER_HOUR = 30_000  # Slack's ceiling per workspace and app (Events API)
MENTION_SHARE = 0.4  # the benchmark's mix
BUSY_HOURS_PER_DAY = 8
BUSY_DAYS_PER_TURN_TTL = 22  # working days in the 30 days a turn is kept
EXAMPLES_PER_TEAM = 300  # a dataset worth training on


def commands_per_master(nodes: Cluster) -> dict[int, int]:
    return {
        port: int(nodes.info(port, "stats").get("total_commands_processed", 0))
        for port in nodes.ports
    }


async def cluster_report(nodes: Cluster, prefix: str, installed: int) -> dict[str, Any]:
    owners = nodes.slot_owners()
    masters: dict[int, dict[str, Any]] = {}
    for port in nodes.ports:
        memory = nodes.info(port, "memory")
        masters[port] = {
            "keys": int(cli(port, "dbsize")),
            "used_memory": int(memory["used_memory"]),
            "used_memory_dataset": int(memory.get("used_memory_dataset", 0)),
            "slots": owners.count(port),
        }
    keys = await _every_key(nodes)

    teams: dict[str, dict[str, Any]] = {}
    deployment: Counter[str] = Counter()
    deployment_keys: Counter[str] = Counter()
    for name, size, ttl in keys:
        tag, kind = _tag_and_kind(name)
        if tag == prefix:
            group = (
                "installations"
                if kind in INSTALLATION_KINDS
                else "directory"
                if kind in DIRECTORY_KINDS
                else "other"
            )
            deployment[group] += size
            deployment_keys[group] += 1
            continue
        if not tag.startswith(prefix + "."):
            continue
        team = teams.setdefault(
            tag,
            {"keys": 0, "lasting": 0, "turns": 0, "short_lived": 0, "examples": 0, "turn_keys": 0},
        )
        team["keys"] += 1
        if kind in CONVERSATION_KINDS:
            team["turns"] += size
        elif ttl == -1:
            team["lasting"] += size
        else:
            team["short_lived"] += size
        team["examples"] += kind == "example"
        team["turn_keys"] += kind == "turn"

    # Where the hash tags land: every installed workspace's team, and the deployment's own.
    port_of_tag = {tag: owners[key_slot(tag.encode())] for tag in teams}
    all_tags = [f"{prefix}.slack-T{n:04d}" for n in range(1, installed + 1)]
    placement_all = Counter(owners[key_slot(tag.encode())] for tag in all_tags)
    placement_used = Counter(port_of_tag.values())
    slots_shared = len(all_tags) - len({key_slot(tag.encode()) for tag in all_tags})

    total_keys = sum(m["keys"] for m in masters.values())
    largest = None
    if teams:
        tag, team = max(teams.items(), key=lambda item: item[1]["keys"])
        slot = key_slot(tag.encode())
        in_slot = int(cli(owners[slot], "cluster", "countkeysinslot", str(slot)))
        largest = {
            "team": tag,
            "keys": team["keys"],
            "slot": slot,
            "master": owners[slot],
            "keys_in_slot": in_slot,
            "share_of_slot": round(team["keys"] / in_slot, 4) if in_slot else None,
            "share_of_all_keys": round(team["keys"] / total_keys, 4) if total_keys else None,
            "bytes": team["lasting"] + team["turns"] + team["short_lived"],
        }
    deployment_slot = key_slot(prefix.encode())
    places = int(cli(owners[deployment_slot], "hlen", f"bot:{{{prefix}}}:team-places"))
    return {
        "masters": {str(port): m for port, m in masters.items()},
        "keys_total": total_keys,
        "teams_with_keys": len(teams),
        "team_tags_per_master_all_installed": {str(p): placement_all[p] for p in nodes.ports},
        "team_tags_per_master_with_keys": {str(p): placement_used[p] for p in nodes.ports},
        "installed_tags_sharing_a_slot": slots_shared,
        "deployment_tag": {
            "slot": deployment_slot,
            "master": owners[deployment_slot],
            "keys": sum(deployment_keys.values()),
            "bytes": dict(deployment),
            "keys_by_group": dict(deployment_keys),
        },
        "largest_team": largest,
        "memory": _memory(teams, deployment, installed, places),
    }


async def _every_key(nodes: Cluster) -> list[tuple[str, int, int]]:
    """(name, MEMORY USAGE … SAMPLES 0, PTTL) of every key on every master."""
    found = []
    for port in nodes.ports:
        client = Redis(port=port, decode_responses=True)
        # SCAN may return a key twice: each once.
        names = list(dict.fromkeys([name async for name in client.scan_iter(count=1000)]))
        for start in range(0, len(names), 500):
            batch = names[start : start + 500]
            pipe = client.pipeline(transaction=False)
            for name in batch:
                pipe.memory_usage(name, samples=0)
                pipe.pttl(name)
            values = await pipe.execute()
            for n, name in enumerate(batch):
                found.append((name, values[2 * n] or 0, values[2 * n + 1]))
        await client.aclose()
    return found


def _tag_and_kind(name: str) -> tuple[str, str]:
    """`bot:{bench.slack-T1}:turn:C1:…` -> ("bench.slack-T1", "turn")."""
    open_, close = name.find("{"), name.find("}")
    if open_ < 0 or close < open_:
        return "", ""
    return name[open_ + 1 : close], name[close + 2 :].split(":", 1)[0]


def _memory(
    teams: dict[str, dict], deployment: Counter, installed: int, places: int
) -> dict[str, Any]:
    """`places`: the teams in the directory (a team that only ran commands has no keys of its
    own, but an entry there)."""
    points = [(t["examples"], t["lasting"]) for t in teams.values()]
    fit = _fit(points)
    turns = sum(t["turn_keys"] for t in teams.values())
    turn_bytes = sum(t["turns"] for t in teams.values())
    without_examples = sorted(t["lasting"] for t in teams.values() if not t["examples"])
    short = [t["short_lived"] for t in teams.values()]
    return {
        "teams": len(teams),
        "examples": sum(t["examples"] for t in teams.values()),
        "lasting_fit": fit,
        "lasting_median_without_examples": (
            without_examples[len(without_examples) // 2] if without_examples else None
        ),
        "teams_without_examples": len(without_examples),
        "turns": turns,
        "bytes_per_turn": round(turn_bytes / turns) if turns else None,
        "short_lived_mean_per_team": round(sum(short) / len(short)) if short else None,
        "installation_bytes_per_workspace": round(deployment["installations"] / installed),
        "directory_bytes_per_team": round(deployment["directory"] / places) if places else None,
        "deployment_bytes": dict(deployment),
    }


def _fit(points: list[tuple[int, int]]) -> dict[str, float] | None:
    """Least squares y = a + b·x, with r²."""
    n = len(points)
    if n < 2:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    if not sxx:
        return None
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    syy = sum((y - mean_y) ** 2 for _, y in points)
    r2 = sxy * sxy / (sxx * syy) if syy else 1.0
    return {
        "per_team_bytes": round(intercept),
        "per_example_bytes": round(slope),
        "r2": round(r2, 4),
        "teams": n,
        "max_examples": max(x for x, _ in points),
    }


# ----- sizing ------------------------------------------------------------------------------------


def sizing(
    capacity: dict[str, float],
    report: dict[str, Any],
    one_run: bool,
    background: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """10,000 teams on paper: processes from the measured rate per process, Redis from the
    measured bytes; every assumption printed beside the arithmetic."""
    lines: list[str] = []
    say = lines.append
    n = TEAMS_SIZED
    say(f"Sizing for {n:,} teams (measured figures; assumptions marked *)")

    # Events: a Zipf spread anchored at the median team, the busiest capped at Slack's ceiling.
    harmonic_median = (n // 2) ** ZIPF_S
    top = MEDIAN_EVENTS_PER_HOUR * harmonic_median  # the rank-1 team, uncapped
    rates = [min(top * k**-ZIPF_S, SLACK_EVENTS_PER_HOUR) for k in range(1, n + 1)]
    capped = sum(1 for r in rates if r >= SLACK_EVENTS_PER_HOUR)
    per_hour = sum(rates)
    per_s = per_hour / 3600
    mean = per_hour / n
    say("  events, peak hour:")
    say(
        f"    * team of rank k sends C·k^-{ZIPF_S} events/h (the benchmark's spread); the median "
        f"team (rank {n // 2:,}) {MEDIAN_EVENTS_PER_HOUR}/h* -> C = {MEDIAN_EVENTS_PER_HOUR} × "
        f"{n // 2:,}^{ZIPF_S} = {top:,.0f}/h"
    )
    say(
        f"    * Slack delivers at most {SLACK_EVENTS_PER_HOUR:,} events/h per workspace "
        f"({SLACK_EVENTS_PER_HOUR / 3600:.2f}/s): the top {capped} team(s) capped there"
    )
    say(
        f"    sum over {n:,} teams = {per_hour:,.0f} events/h = {per_s:.1f}/s "
        f"(mean team {mean:.1f}/h; the busiest {rates[0] / per_hour:.1%} of all)"
    )

    # Processes.
    one = capacity.get("1", 0.0)
    two = capacity.get("2", 0.0)
    per_process = one or (two / 2 if two else 0.0)
    say("  processes:")
    if per_process:
        needed = math.ceil(per_s / per_process)
        say(
            f"    measured: {one:g}/s on 1 process"
            + (f", {two:g}/s on 2 (this 2-core box)" if "2" in capacity else "")
            + " with ack p99 < 50 ms and nothing lost"
            + (" (one run only)" if one_run else "")
        )
        say(
            f"    {per_s:.1f}/s ÷ {per_process:g}/s per process = {per_s / per_process:.2f} -> "
            f"{needed} process(es), one core each, for the peak hour (+1 to lose one: "
            f"{needed + 1})"
        )
    else:
        needed = None
        say("    no rate met ack p99 < 50 ms with nothing lost: no per-process figure to size from")
    slack_s = SLACK_EVENTS_PER_HOUR / 3600
    if per_process:
        say(
            f"    one team alone at Slack's ceiling: {slack_s:.2f}/s ÷ {per_process:g}/s = "
            f"{slack_s / per_process:.2f} of a process; any process serves any team, so a "
            "busy team is headroom to keep, not a process of its own"
        )
    else:
        say(f"    one team alone at Slack's ceiling: {slack_s:.2f}/s")
    idle = None
    if background:
        idle = background["windows"]["idle"]
        known = background["teams"]
        per_team_ops = idle["redis_commands_per_s"] / known
        say(
            f"    with no events at all, {known:,} teams known cost {idle['bot_cpu_cores']} cores "
            f"and {idle['redis_commands_per_s']:,} Redis commands/s (their watchers): "
            f"× {n / known:g} = {idle['bot_cpu_cores'] * n / known:.2f} cores and "
            f"{per_team_ops * n:,.0f} commands/s for {n:,} teams, per process that knows them"
        )

    # Redis memory.
    memory = report["memory"]
    fit = memory["lasting_fit"] or {"per_team_bytes": 0, "per_example_bytes": 0, "r2": 0}
    per_team = (
        max(fit["per_team_bytes"], 0)
        + memory["installation_bytes_per_workspace"]
        + (memory["directory_bytes_per_team"] or 0)
    )
    per_example = fit["per_example_bytes"]
    per_turn = memory["bytes_per_turn"] or 0
    turns_per_team = mean * MENTION_SHARE * BUSY_HOURS_PER_DAY * BUSY_DAYS_PER_TURN_TTL
    fixed = n * per_team
    dataset = n * EXAMPLES_PER_TEAM * per_example
    turns = n * turns_per_team * per_turn
    total = fixed + dataset + turns
    say("  Redis memory:")
    say(
        f"    per team: {max(fit['per_team_bytes'], 0):,} B lasting (the line's intercept over "
        f"{fit.get('teams', 0)} teams, r² {fit['r2']}: what a dataset costs before its "
        "examples) + "
        f"{memory['installation_bytes_per_workspace']:,} B installation + "
        f"{memory['directory_bytes_per_team'] or 0:,} B directory = {per_team:,} B"
    )
    say(f"      × {n:,} = {_mb(fixed)}")
    say(
        f"    per example: {per_example:,} B (the line's slope) × {EXAMPLES_PER_TEAM}* examples "
        f"per team × {n:,} = {_mb(dataset)}"
    )
    say(
        f"    turns, kept 30 days: {per_turn:,} B per turn (one-turn threads) × {mean:.1f} "
        f"events/h × {MENTION_SHARE:.0%} mentions × {BUSY_HOURS_PER_DAY} h* × "
        f"{BUSY_DAYS_PER_TURN_TTL} days* = {turns_per_team:,.0f} turns per team × {n:,} = "
        f"{_mb(turns)}"
    )
    say(
        f"    total {_mb(total)} of data (used_memory adds the allocator's overhead), "
        f"{_mb(total / 3)} per master of 3; the deployment's own slot (installations, "
        f"directory) on one master: {_mb(n * (per_team - max(fit['per_team_bytes'], 0)))}"
    )
    for line in lines:
        print(line)
    return {
        "assumptions": {
            "teams": n,
            "median_events_per_hour": MEDIAN_EVENTS_PER_HOUR,
            "zipf_s": ZIPF_S,
            "slack_events_per_hour_per_workspace": SLACK_EVENTS_PER_HOUR,
            "mention_share": MENTION_SHARE,
            "busy_hours_per_day": BUSY_HOURS_PER_DAY,
            "busy_days_per_turn_ttl": BUSY_DAYS_PER_TURN_TTL,
            "examples_per_team": EXAMPLES_PER_TEAM,
        },
        "events_per_hour": round(per_hour),
        "events_per_s": round(per_s, 1),
        "teams_capped_at_slack_ceiling": capped,
        "per_process_rate": per_process,
        "processes": needed,
        "idle_background": idle,
        "bytes_per_team_fixed": per_team,
        "bytes_per_example": per_example,
        "bytes_per_turn": per_turn,
        "turns_per_team": round(turns_per_team),
        "redis_bytes": {"fixed": fixed, "dataset": dataset, "turns": round(turns)},
        "redis_total_bytes": round(total),
        "text": lines,
    }


def _mb(value: float) -> str:
    if value >= 1e9:
        return f"{value / 1e9:,.2f} GB"
    return f"{value / 1e6:,.1f} MB"


# ----- printing ----------------------------------------------------------------------------------


def print_run(r: dict[str, Any]) -> None:
    ack, first, rest = r["ack"], r["ack_first_of_team"], r["ack_rest"]
    by_kind, busiest = r["sent_by_kind"], r["busiest_team"]
    print(
        f"     sent {r['sent']:,} in {r['send_seconds']} s ({r['achieved_rate']}/s; "
        f"{by_kind['mention']} mentions, {by_kind['reaction']} reactions, {by_kind['command']} "
        f"commands) to {r['teams_touched']} teams ({r['teams_with_one_event']} with one event); "
        f"generator late p99 {r['generator_lateness']['p99_ms']} ms; seeded in "
        f"{r['seeded_in_s']} s; ready {r['ready_after_s']} s after start; load average "
        f"{r['load_average_at_start'][0]}"
    )
    print(
        f"     busiest team {busiest['workspace']}: {busiest['share']:.1%} of events "
        f"({busiest['rate_per_s']}/s; Slack allows 8.33/s per workspace); top 10: "
        f"{r['top10_share']:.1%}"
    )
    print(f"     ack all p50 {ack['p50_ms']} / p99 {ack['p99_ms']} / max {ack['max_ms']} ms")
    print(
        f"       first event of each team ({first['n']}): p50 {first['p50_ms']} / p99 "
        f"{first['p99_ms']} / max {first['max_ms']} ms"
    )
    for kind, row in r["ack_first_of_team_by_kind"].items():
        print(f"         {kind:<9} ({row['n']}) p50 {row['p50_ms']} / max {row['max_ms']} ms")
    print(
        f"       the rest ({rest['n']}): p50 {rest['p50_ms']} / p99 {rest['p99_ms']} / max "
        f"{rest['max_ms']} ms"
    )
    answered = r["command_answered_after"]
    print(
        f"     command answered (response_url) p50 {answered['p50_ms']} / p99 "
        f"{answered['p99_ms']} / max {answered['max_ms']} ms after it was due"
    )
    lag = "; ".join(f"p99 {v['p99_ms']} max {v['max_ms']}" for v in r["loop_lag_ms"].values())
    print(f"     loop lag (ms, per process): {lag}")
    print(
        f"     HTTP failures {r['http_failures']}, acks over 3 s {r['acks_over_3s']}; votes "
        f"acked {r['votes_acked']}, lost {r['votes_acked_but_lost']}, told not saved "
        f"{r['votes_told_not_saved']}; mentions unanswered {r['mentions_unanswered']} (late "
        f"notices {r['late_notices']}, apologies {r['apologies']}); commands unanswered "
        f"{r['commands_unanswered']}; teams with something lost "
        f"{r['teams_with_something_lost']}; all done {r['drained_within_s']} s after the last send"
    )
    print(
        f"     teams: {r['directory_places']} places in the directory for {r['teams_touched']} "
        f"workspaces heard from ({r['directory_records']} records, the first team's included)"
    )
    rss_growth = (r["bot_rss_at_end_mb"] or 0) - r["bot_idle_rss_mb"]
    print(
        f"     bot CPU {r['bot_cpu_cores_until_acked']} cores until the last ack; RSS idle "
        f"{r['bot_idle_rss_mb']} MB, peak {r['bot_peak_rss_mb']} MB, at end "
        f"{r['bot_rss_at_end_mb']} MB (+{rss_growth:.1f} MB for {r['teams_touched']} teams); "
        f"log errors {r['bot_log_errors']}, warnings {r['bot_log_warnings']}, 'storage "
        f"unavailable' {r['storage_unavailable_lines']}; model listings {r['model_listings']}"
    )
    commands = ", ".join(f"{p}: {n:,}" for p, n in r["redis_commands_per_master"].items())
    print(f"     Redis commands per master during the run: {commands}")
    print(f"     targets: {r['met']}", flush=True)


def print_cluster(c: dict[str, Any]) -> None:
    print("  cluster after the run:")
    for port, m in c["masters"].items():
        print(
            f"     master {port}: {m['keys']:,} keys, used_memory {m['used_memory'] / 1e6:.2f} MB "
            f"(dataset {m['used_memory_dataset'] / 1e6:.2f} MB), {m['slots']} slots; team tags: "
            f"{c['team_tags_per_master_all_installed'][port]} of the installed, "
            f"{c['team_tags_per_master_with_keys'][port]} of those with keys"
        )
    d = c["deployment_tag"]
    print(
        f"     the deployment's tag: slot {d['slot']} on master {d['master']}, {d['keys']:,} keys "
        f"({d['keys_by_group']}), bytes {d['bytes']}"
    )
    print(
        "     installed teams whose tags share a slot with another's: "
        f"{c['installed_tags_sharing_a_slot']}"
    )
    big = c["largest_team"]
    if big:
        print(
            f"     largest team {big['team']}: {big['keys']:,} keys, {big['bytes']:,} B; slot "
            f"{big['slot']} on {big['master']} holds {big['keys_in_slot']:,} keys: "
            f"{big['share_of_slot']:.1%} of its slot, {big['share_of_all_keys']:.1%} of all "
            f"{c['keys_total']:,} keys"
        )
    m = c["memory"]
    fit = m["lasting_fit"]
    fit_text = (
        f"{fit['per_team_bytes']:,} B + {fit['per_example_bytes']:,} B × examples (r² {fit['r2']}, "
        f"{fit['teams']} teams, up to {fit['max_examples']} examples)"
        if fit
        else "no fit (too few teams or no spread in examples)"
    )
    print(
        f"     bytes: lasting per team = {fit_text}; teams without examples (median) "
        f"{m['lasting_median_without_examples']} B over {m['teams_without_examples']} teams"
    )
    print(
        f"     turns {m['turns']:,} at {m['bytes_per_turn']} B each; short-lived keys "
        f"{m['short_lived_mean_per_team']} B per team; installation "
        f"{m['installation_bytes_per_workspace']} B per workspace; directory "
        f"{m['directory_bytes_per_team']} B per team",
        flush=True,
    )
