"""The worker's settings: one line naming a missing or wrong variable, sane defaults."""

from pathlib import Path

import pytest

from worker.__main__ import main
from worker.config import SettingsError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no developer's .env
    for name in ("REDIS_URL", "REDIS_PREFIX", "LOCAL_MODELS_DIR", "LORA_R", "BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)


def test_redis_url_is_required_and_named_in_one_line(capsys):
    assert main([]) == 2
    assert capsys.readouterr().err.strip() == "worker: REDIS_URL is required but not set"


def test_defaults_match_the_bot(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings()
    assert settings.redis_prefix == "finetune"
    assert settings.local_models_dir == Path("data/models")
    assert settings.hyperparameters.lora_r == 16


def test_a_wrong_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("LORA_R", "0")
    with pytest.raises(SettingsError, match=r"^LORA_R is invalid"):
        load_settings()
