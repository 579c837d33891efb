"""The model table: name resolution, the override file, and lifecycle warnings."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from bot.training.model_table import (
    ModelInfo,
    default_model_table,
    lifecycle_warning,
    load_model_table,
)


@pytest.fixture
def table():
    return default_model_table()


def write_table(tmp_path: Path, entries: object) -> Path:
    path = tmp_path / "models.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    return path


# --- lookup ------------------------------------------------------------------------------------


def test_default_table_lists_openai_and_together_models(table):
    openai = [info.name for info in table if info.provider == "openai"]
    together = [info.name for info in table if info.provider == "together"]
    assert openai == [
        "gpt-4.1-2025-04-14",
        "gpt-4.1-mini-2025-04-14",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o-2024-08-06",
        "gpt-4o-mini-2024-07-18",
        "gpt-3.5-turbo-0125",
    ]
    assert "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference" in together


def test_exact_name_resolves_to_its_entry(table):
    assert table.lookup("gpt-4o-2024-08-06").max_tokens_per_example == 65536


@pytest.mark.parametrize(
    ("alias", "expected"),
    [
        ("gpt-4.1", "gpt-4.1-2025-04-14"),
        ("gpt-4.1-mini", "gpt-4.1-mini-2025-04-14"),
        ("gpt-4.1-nano", "gpt-4.1-nano-2025-04-14"),
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
        ("gpt-3.5-turbo", "gpt-3.5-turbo-0125"),
        (" GPT-4.1-Mini ", "gpt-4.1-mini-2025-04-14"),
    ],
)
def test_undated_alias_resolves_to_the_dated_entry(table, alias, expected):
    assert table.lookup(alias).name == expected


def test_alias_gpt_4_1_does_not_match_gpt_4_1_mini(table):
    assert table.lookup("gpt-4.1").training_price_per_million == 25.0
    assert table.lookup("gpt-4.1-mini").training_price_per_million == 5.0


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("ft:gpt-4.1-mini-2025-04-14:acme:suffix:abc123", "gpt-4.1-mini-2025-04-14"),
        ("ft:gpt-4o-2024-08-06:acme::B1a2c3", "gpt-4o-2024-08-06"),
        ("ft:gpt-4.1:acme:support:xyz", "gpt-4.1-2025-04-14"),
    ],
)
def test_fine_tuned_id_resolves_through_its_base(table, model_id, expected):
    assert table.lookup(model_id).name == expected


@pytest.mark.parametrize(
    "model", ["gpt-5", "gpt-4o-2024-05-13", "gpt-4.1-mini-2030-01-01", "ft:davinci-002:x::y", ""]
)
def test_unknown_or_other_snapshot_does_not_resolve(table, model):
    assert table.lookup(model) is None


def test_default_prices_and_limits_match_openai(table):
    prices = {
        info.name: info.training_price_per_million for info in table if info.provider == "openai"
    }
    assert prices == {
        "gpt-4.1-2025-04-14": 25.0,
        "gpt-4.1-mini-2025-04-14": 5.0,
        "gpt-4.1-nano-2025-04-14": 1.5,
        "gpt-4o-2024-08-06": 25.0,
        "gpt-4o-mini-2024-07-18": 3.0,
        "gpt-3.5-turbo-0125": 8.0,
    }
    assert table.lookup("gpt-3.5-turbo").max_tokens_per_example == 16385
    assert table.lookup("gpt-3.5-turbo").encoding == "cl100k_base"
    assert all(
        info.training_closes == date(2027, 1, 6) for info in table if info.provider == "openai"
    )


# --- the override file -------------------------------------------------------------------------


def test_no_file_gives_the_defaults():
    assert load_model_table(None).names() == default_model_table().names()


def test_partial_entry_overrides_only_the_given_fields(tmp_path):
    path = write_table(tmp_path, [{"name": "gpt-4.1-mini-2025-04-14", "retires": None}])
    info = load_model_table(path).lookup("gpt-4.1-mini")
    assert info.retires is None
    assert info.training_price_per_million == 5.0
    assert info.max_tokens_per_example == 65536
    assert info.training_closes == date(2027, 1, 6)


def test_new_entry_with_required_fields_is_added_and_resolvable(tmp_path):
    entry = {
        "name": "gpt-5-mini-2025-08-07",
        "encoding": "o200k_base",
        "max_tokens_per_example": 131072,
        "training_price_per_million": 10,
        "training_closes": "2027-01-06",
    }
    table = load_model_table(write_table(tmp_path, [entry]))
    info = table.lookup("gpt-5-mini")
    assert info.name == "gpt-5-mini-2025-08-07"
    assert info.training_closes == date(2027, 1, 6)
    assert info.provider == "openai"
    assert len(table.names()) == len(default_model_table()) + 1


def test_new_entry_missing_required_fields_is_rejected_naming_them(tmp_path):
    path = write_table(tmp_path, [{"name": "my-model", "training_price_per_million": 2}])
    with pytest.raises(ValueError, match="encoding, max_tokens_per_example") as caught:
        load_model_table(path)
    assert str(path) in str(caught.value)


def test_partial_entry_under_an_alias_suggests_the_dated_name(tmp_path):
    path = write_table(tmp_path, [{"name": "gpt-4.1-mini", "training_price_per_million": 4}])
    with pytest.raises(ValueError, match=r"did you mean gpt-4\.1-mini-2025-04-14\?"):
        load_model_table(path)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("[{", "is not valid JSON"),
        ('{"name": "gpt-4.1"}', "must hold a JSON list of model entries, not a JSON object"),
        ('["gpt-4.1"]', "entry 1 must be a JSON object"),
        ('[{"price": 3}]', 'entry 1 has no "name"'),
        ('[{"name": "gpt-4o-2024-08-06", "max_token": 5}]', '"max_token" is not a known field'),
        ('[{"name": "gpt-4o-2024-08-06", "max_tokens_per_example": "lots"}]', "valid integer"),
        ('[{"name": "gpt-4o-2024-08-06", "encoding": "p50k_base"}]', "encoding"),
        ('[{"name": "gpt-4o-2024-08-06"}, {"name": "gpt-4o-2024-08-06"}]', "more than once"),
    ],
)
def test_bad_file_raises_one_sentence_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "models.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        load_model_table(path)
    message = str(caught.value)
    assert message.startswith(f"Model table file {path}")
    assert problem in message
    assert message.endswith(".") and "\n" not in message


def test_missing_file_raises_a_clear_error(tmp_path):
    path = tmp_path / "absent.json"
    with pytest.raises(ValueError, match=r"cannot be read \(No such file or directory\)\.$"):
        load_model_table(path)


# --- lifecycle warnings ------------------------------------------------------------------------


def model(**dates: date | None) -> ModelInfo:
    return ModelInfo(
        name="gpt-test-2025-01-01",
        encoding="o200k_base",
        max_tokens_per_example=1000,
        **dates,
    )


def test_training_closing_within_60_days_is_warned_with_the_days_left():
    info = model(training_closes=date(2027, 1, 6))
    assert lifecycle_warning(info, date(2026, 11, 21)) == (
        "OpenAI stops accepting new fine-tuning jobs on 2027-01-06 (46 days from now); "
        "start any training you need before then."
    )


def test_training_closing_in_more_than_60_days_is_not_warned():
    info = model(training_closes=date(2027, 1, 6))
    assert lifecycle_warning(info, date(2026, 11, 6)) is None  # 61 days
    assert lifecycle_warning(info, date(2026, 11, 7)) is not None  # 60 days


def test_training_closing_tomorrow_and_today_read_naturally():
    info = model(training_closes=date(2027, 1, 6))
    assert "(1 day from now)" in lifecycle_warning(info, date(2027, 1, 5))
    assert lifecycle_warning(info, date(2027, 1, 6)).startswith("OpenAI stopped accepting")


def test_closed_training_is_warned():
    info = model(training_closes=date(2027, 1, 6))
    assert lifecycle_warning(info, date(2027, 2, 1)) == (
        "OpenAI stopped accepting new fine-tuning jobs on 2027-01-06, "
        "so gpt-test-2025-01-01 can no longer be trained."
    )


def test_retirement_within_90_days_is_warned():
    info = model(retires=date(2027, 1, 14))
    assert lifecycle_warning(info, date(2026, 10, 16)) == (
        "gpt-test-2025-01-01 retires on 2027-01-14 (90 days from now), and models fine-tuned "
        "from it stop working then too; plan a move to a newer model."
    )
    assert lifecycle_warning(info, date(2026, 10, 15)) is None  # 91 days


def test_retired_model_is_warned_before_anything_else():
    info = model(training_closes=date(2027, 1, 6), retires=date(2026, 10, 23))
    assert lifecycle_warning(info, date(2026, 11, 21)) == (
        "gpt-test-2025-01-01 was retired on 2026-10-23, so it can no longer be trained or used; "
        "choose another model."
    )


def test_the_sooner_of_two_upcoming_dates_is_warned():
    info = model(training_closes=date(2027, 1, 6), retires=date(2027, 1, 14))
    assert "fine-tuning jobs" in lifecycle_warning(info, date(2026, 12, 1))
    info = model(training_closes=date(2027, 3, 1), retires=date(2027, 1, 14))
    assert "retires on 2027-01-14" in lifecycle_warning(info, date(2026, 12, 1))


def test_model_without_dates_has_no_warning():
    assert lifecycle_warning(model(), date(2030, 1, 1)) is None


def test_default_models_on_a_fixed_day(table):
    today = date(2026, 11, 21)
    assert "46 days from now" in lifecycle_warning(table.lookup("gpt-4.1-mini"), today)
    assert "was retired on 2026-10-23" in lifecycle_warning(table.lookup("gpt-3.5-turbo"), today)
    assert lifecycle_warning(table.lookup("gpt-4o"), date(2026, 6, 1)) is None
