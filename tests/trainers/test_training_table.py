"""Which models each backend trains, and whose wind-down applies to them."""

from __future__ import annotations

from datetime import date

from redis.asyncio import Redis

from bot.config import load_settings
from bot.model_table import default_model_table, lifecycle_warning
from bot.trainers import build_trainer, training_table
from storage.keys import Keys

BASE = {"slack_bot_token": "xoxb-1", "slack_signing_secret": "s", "openai_api_key": "sk-1"}
TODAY = date(2026, 11, 21)


def table_for(**overrides):
    settings = load_settings(**BASE, **overrides)
    # Never connected: building a trainer must not touch Redis or the network.
    redis = Redis(host="127.0.0.1", port=1, decode_responses=True)
    trainer = build_trainer(settings, redis=redis, keys=Keys("t"))
    return training_table(default_model_table(), trainer, settings.finetune_base_model)


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


def test_local_trains_the_configured_base_model_for_free():
    table = table_for(train_backend="local", finetune_base_model="/models/qwen2.5-0.5b")
    info = table.lookup("/models/qwen2.5-0.5b")
    assert info.training_price_per_million == 0 and info.provider == "local"
