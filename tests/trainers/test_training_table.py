"""Which models each provider trains, and whose wind-down applies to them."""

from __future__ import annotations

from datetime import date

from redis.asyncio import Redis

from bot.config import load_settings
from bot.providers.config import load_providers
from bot.providers.registry import Providers
from bot.trainers import TrainerContext
from bot.training.model_table import default_model_table, lifecycle_warning
from storage.keys import Keys

BASE = {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s", "openai_api_key": "sk-1"}
TODAY = date(2026, 11, 21)


def table_for(model: str | None = None, **overrides):
    settings = load_settings(**BASE, **overrides)
    # Never connected: building providers must not touch Redis or the network.
    redis = Redis(host="127.0.0.1", port=1, decode_responses=True)
    providers = Providers(
        load_providers(settings, {}),
        default_model_table(),
        TrainerContext(redis, Keys("t"), 5),
        timeout_seconds=5,
    )
    return providers.training_table(None, model)


def test_openai_trains_openai_models_and_warns_of_its_closing():
    table = table_for()
    assert table.lookup("gpt-4.1-mini") is not None
    assert table.lookup("Qwen/Qwen3-8B") is None
    assert "2027-01-06" in lifecycle_warning(table.lookup("gpt-4.1-mini"), TODAY)


def test_azure_trains_the_same_models_without_openais_closing():
    table = table_for(train_backend="azure", train_api_key="k", train_base_url="https://x")
    info = table.lookup("gpt-4.1-mini-2025-04-14")
    assert info.training_closes is None
    assert "2027-01-06" not in (lifecycle_warning(info, TODAY) or "")


def test_together_trains_its_open_models_only():
    table = table_for(train_backend="together", train_api_key="k")
    assert table.lookup("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference") is not None
    assert table.lookup("gpt-4.1-mini") is None


def test_local_trains_any_open_model_it_is_given_for_free():
    table = table_for("/models/qwen2.5-0.5b", train_backend="local")
    info = table.lookup("/models/qwen2.5-0.5b")
    assert info.training_price_per_million == 0 and info.provider == "local"
