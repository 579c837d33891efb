"""The teams benchmark's requests name the workspace the way Slack does, its draw is skewed as
stated, and its byte accounting reads key names and fits lines correctly."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import parse_qs

from bench.fakes import bench_token, bench_workspace
from bench.teams import _request, team_of, zipf_draw
from bench.teams_sizing import _fit, _tag_and_kind
from storage.keys import Keys
from storage.teams import team_for_new_place


def test_each_workspace_has_a_token_and_the_team_its_first_event_creates():
    assert bench_workspace(7) == "T0007"
    assert bench_token("T0007") == "xoxb-bench-T0007"
    assert team_of("T0007") == team_for_new_place("slack:T0007")
    assert Keys("bench").team(team_of("T0007")).examples == "bot:{bench.slack-T0007}:examples"


def test_the_draw_is_skewed_toward_the_first_workspaces_and_repeatable():
    draw = zipf_draw(5000, 1000)
    assert draw == zipf_draw(5000, 1000)
    counts = Counter(draw)
    assert counts.most_common(1)[0][0] == "T0001"
    assert 0.1 < counts["T0001"] / len(draw) < 0.3
    assert all("T0001" <= workspace <= "T1000" for workspace in counts)


def test_every_request_carries_its_workspace():
    for kind in ("mention", "reaction"):
        body, content_type, _ = _request(kind, 3, "T0042", "http://x/response")
        payload = json.loads(body)
        assert content_type == "application/json"
        assert payload["team_id"] == payload["authorizations"][0]["team_id"] == "T0042"
        assert payload["event"].get("channel", payload["event"].get("item", {}).get("channel"))
    body, _, name = _request("command", 3, "T0042", "http://x/response")
    form = {key: values[0] for key, values in parse_qs(body).items()}
    assert form["team_id"] == "T0042"
    assert form["response_url"] == f"http://x/response/{name}"


def test_key_names_and_the_bytes_line():
    assert _tag_and_kind("bot:{bench.slack-T1}:turn:C1:1.2") == ("bench.slack-T1", "turn")
    assert _tag_and_kind("bot:{bench}:team-places") == ("bench", "team-places")
    fit = _fit([(0, 800), (1, 2300), (4, 6800)])
    assert (fit["per_team_bytes"], fit["per_example_bytes"], fit["r2"]) == (800, 1500, 1.0)
