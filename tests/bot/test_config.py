"""Configuration errors name the variable in one line; lists are read from commas."""

import re
from pathlib import Path

import pytest

from bot.config import Settings, SettingsError, load_settings

REQUIRED = {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s", "openai_api_key": "sk-1"}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SLACK_APP_TOKEN",
        "SLACK_CLIENT_ID",
        "SLACK_CLIENT_SECRET",
        "SLACK_STATE_SECRET",
        "TOKEN_ENCRYPTION_KEY",
        "OPENAI_API_KEY",
        "PORT",
        "CURATE_REACTIONS",
        "FINETUNE_ADMINS",
        "SYSTEM_PROMPT",
        "DISCORD_TOKEN",
        "DISCORD_CURATE_REACTIONS",
        "DISCORD_FINETUNE_ADMINS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_without_any_front_end_token_both_are_named_in_one_line():
    with pytest.raises(SettingsError) as error:
        load_settings(slack_signing_secret="s", openai_api_key="k")
    assert str(error.value) == (
        "SLACK_BOT_TOKEN or SLACK_CLIENT_ID (for Slack) or DISCORD_TOKEN (for Discord) is "
        "required; none is set"
    )


def test_discord_alone_needs_no_slack_settings():
    settings = load_settings(discord_token="d", openai_api_key="k", discord_guild_id=7)
    assert settings.discord_enabled and not settings.slack_enabled and not settings.socket_mode


def test_discord_lists_are_comma_separated(monkeypatch):
    monkeypatch.setenv("DISCORD_CURATE_REACTIONS", "🔥, :goodbot:")
    monkeypatch.setenv("DISCORD_FINETUNE_ADMINS", "111, 222")
    monkeypatch.setenv("DISCORD_GUILD_IDS", "7, 8")
    settings = load_settings(discord_token="d", openai_api_key="k", discord_guild_id=9)
    assert settings.discord_curate_reactions == {"🔥", "goodbot"}
    assert settings.discord_finetune_admins == {"111", "222"}
    assert settings.discord_guilds == {7, 8, 9}  # DISCORD_GUILD_ID is one more


def test_discord_needs_the_servers_it_serves():
    with pytest.raises(SettingsError, match="DISCORD_GUILD_IDS must name the servers"):
        load_settings(discord_token="d", openai_api_key="k")


def test_http_mode_needs_a_signing_secret():
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET"):
        load_settings(slack_bot_token="x", openai_api_key="k")


def test_socket_mode_needs_no_signing_secret():
    settings = load_settings(slack_bot_token="x", openai_api_key="k", slack_app_token="xapp-1")
    assert settings.socket_mode


def test_a_wrong_port_is_named_without_echoing_values(monkeypatch):
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(SettingsError) as error:
        load_settings(**REQUIRED)
    assert str(error.value).startswith("PORT is invalid")
    assert "eighty" not in str(error.value)


def test_reactions_and_admins_are_comma_separated(monkeypatch):
    monkeypatch.setenv("CURATE_REACTIONS", ":star:, +1")
    monkeypatch.setenv("FINETUNE_ADMINS", "U1,U2")
    settings = load_settings(**REQUIRED)
    assert settings.curate_reactions == {"star", "+1"}
    assert settings.is_admin("U2") and not settings.is_admin("U3")


def test_the_system_prompt_can_come_from_a_file(tmp_path):
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Talk like a pirate.\n")
    settings = load_settings(**REQUIRED, system_prompt_file=prompt)
    assert settings.system_prompt == "Talk like a pirate."


def test_an_unreadable_system_prompt_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="SYSTEM_PROMPT_FILE"):
        load_settings(**REQUIRED, system_prompt_file=tmp_path / "missing.txt")


def test_the_env_file_is_read(tmp_path):
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-env\nSLACK_SIGNING_SECRET=s\nOPENAI_API_KEY=k\n"
    )
    assert load_settings().slack_bot_token == "xoxb-env"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"train_backend": "together"}, "TRAIN_API_KEY is required for TRAIN_BACKEND=together"),
        ({"train_backend": "azure", "train_api_key": "k"}, "TRAIN_BASE_URL"),
        ({"train_backend": "compatible"}, "TRAIN_BASE_URL is required"),
        ({"train_backend": "gpu"}, "TRAIN_BACKEND is invalid"),
    ],
)
def test_a_training_backend_names_what_it_is_missing(overrides, named):
    with pytest.raises(SettingsError, match=named):
        load_settings(**REQUIRED, **overrides)


def test_chat_and_training_fall_back_to_the_openai_settings():
    settings = load_settings(**REQUIRED, openai_base_url="http://openai.local/v1")
    assert (settings.chat_key, settings.chat_url, settings.train_key) == (
        "sk-1",
        "http://openai.local/v1",
        "sk-1",
    )
    apart = load_settings(**REQUIRED, chat_base_url="http://vllm:8000/v1", chat_api_key="v")
    assert (apart.chat_key, apart.chat_url, apart.train_key) == ("v", "http://vllm:8000/v1", "sk-1")


ENV_EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"


@pytest.mark.parametrize(
    ("variable", "placeholder"),
    [
        ("SLACK_BOT_TOKEN", "xoxb-..."),
        ("SLACK_SIGNING_SECRET", "..."),
        ("SLACK_APP_TOKEN", "xapp-..."),
        ("OPENAI_API_KEY", "sk-..."),
    ],
)
def test_a_placeholder_left_in_place_is_named_in_one_line(variable, placeholder):
    with pytest.raises(SettingsError) as error:
        load_settings(**{**REQUIRED, variable.lower(): placeholder})
    assert str(error.value) == (
        f"{variable} is still the placeholder from .env.example; set it to the real value"
    )


def test_a_key_typed_with_an_ellipsis_is_not_called_the_env_example_placeholder():
    with pytest.raises(SettingsError) as error:
        load_settings(**{**REQUIRED, "openai_api_key": "sk-…"})
    assert str(error.value).startswith("OPENAI_API_KEY looks like a placeholder")
    assert ".env.example" not in str(error.value)


def test_env_example_copied_unchanged_names_every_placeholder_in_one_line(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert str(error.value) == (
        "SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET and OPENAI_API_KEY are still the placeholders "
        "from .env.example; set them to the real values"
    )


def test_a_placeholder_matters_only_to_the_part_that_uses_it(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(ENV_EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(front_end_required=False)
    settings.require()  # dataset commands need no key
    with pytest.raises(SettingsError, match=r"^OPENAI_API_KEY is still the placeholder"):
        settings.require("chat")
    local = load_settings(
        front_end_required=False, chat_base_url="http://localhost:11434/v1", chat_api_key="ollama"
    )
    local.require("chat")  # the terminal chat with a local model ignores the Slack tokens


@pytest.mark.parametrize(
    ("variable", "token", "message"),
    [
        (
            "SLACK_BOT_TOKEN",
            "xapp-1-A0123-4567-secretvalue",
            "SLACK_BOT_TOKEN is an app-level token (xapp-…); it needs the Bot User OAuth Token "
            "(xoxb-…) from the app's OAuth & Permissions page",
        ),
        (
            "SLACK_BOT_TOKEN",
            "xoxp-1-2-3-secretvalue",
            "SLACK_BOT_TOKEN is a user token (xoxp-…); it needs the Bot User OAuth Token "
            "(xoxb-…) from the app's OAuth & Permissions page",
        ),
        (
            "SLACK_APP_TOKEN",
            "xoxb-1-2-secretvalue",
            "SLACK_APP_TOKEN is a bot token (xoxb-…); it needs an app-level token (xapp-…) with "
            "connections:write, or leave it empty for HTTP mode",
        ),
    ],
)
def test_a_slack_token_of_the_wrong_kind_is_named_without_its_value(variable, token, message):
    with pytest.raises(SettingsError) as error:
        load_settings(**{**REQUIRED, variable.lower(): token})
    assert str(error.value) == message
    assert "secretvalue" not in str(error.value)


def test_env_example_lists_every_setting():
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.MULTILINE))
    assert listed == {name.upper() for name in Settings.model_fields}


INSTALL = {
    "slack_client_id": "1111.2222",
    "slack_client_secret": "client-secret",
    "slack_state_secret": "state-secret",
    "token_encryption_key": "YzYxZTRkNGQ2YmM1NDI1YmE1ZjBkYWUwY2NiODQ2Zjk=",
    "slack_signing_secret": "s",
    "openai_api_key": "sk-1",
}


def test_installing_from_a_link_runs_slack_without_a_bot_token():
    settings = load_settings(**INSTALL)
    assert settings.slack_enabled and settings.slack_oauth
    assert {"client-secret", "state-secret", INSTALL["token_encryption_key"]} <= set(
        settings.secrets
    )
    # With SLACK_BOT_TOKEN set, the token is what runs, as before.
    assert not load_settings(**INSTALL, slack_bot_token="xoxb-1").slack_oauth


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (
            {"slack_state_secret": "", "token_encryption_key": ""},
            "SLACK_CLIENT_ID (installing from a link) needs SLACK_STATE_SECRET and "
            "TOKEN_ENCRYPTION_KEY",
        ),
        ({"slack_app_token": "xapp-1"}, "needs HTTP mode"),
        ({"token_encryption_key": "hunter2"}, "TOKEN_ENCRYPTION_KEY key 1 is not a Fernet key"),
    ],
    ids=["secrets missing", "socket mode", "not a fernet key"],
)
def test_installing_from_a_link_names_what_is_missing_in_one_line(change, said):
    with pytest.raises(SettingsError) as error:
        load_settings(**{**INSTALL, **change})
    assert said in str(error.value) and "hunter2" not in str(error.value)
