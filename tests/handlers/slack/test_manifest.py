"""The Slack app manifest asks for what the app uses, and no more."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.config import DEFAULT_SUGGESTED_PROMPTS
from handlers.slack.install import BOT_SCOPES, REDIRECT_PATH

MANIFEST = yaml.safe_load((Path(__file__).parents[3] / "manifest.yml").read_text())


def test_every_event_the_app_listens_to_is_subscribed():
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert {
        "app_home_opened",
        "app_mention",
        "assistant_thread_started",
        "message.im",
        "message.channels",
        "reaction_added",
        "reaction_removed",
    } <= events


def test_the_scopes_cover_streaming_and_agent_view_and_shed_unused_ones():
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"assistant:write", "chat:write", "chat:write.public", "files:write"} <= scopes
    assert "im:read" not in scopes


def test_the_home_tab_and_agent_view_are_on_with_the_default_prompts():
    features = MANIFEST["features"]
    assert features["app_home"]["home_tab_enabled"] is True
    assert "assistant_view" not in features  # being retired; agent view replaces it
    prompts = [prompt["message"] for prompt in features["agent_view"]["suggested_prompts"]]
    assert prompts == list(DEFAULT_SUGGESTED_PROMPTS)
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True


def test_installing_from_a_link_asks_for_the_manifests_scopes_and_hears_an_uninstall():
    assert set(BOT_SCOPES) == set(MANIFEST["oauth_config"]["scopes"]["bot"])
    [redirect] = MANIFEST["oauth_config"]["redirect_urls"]
    assert redirect.endswith(REDIRECT_PATH)
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_uninstalled", "tokens_revoked"} <= events
