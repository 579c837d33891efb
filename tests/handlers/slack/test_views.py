"""Slack's views and blocks are pure functions of core results: what each person sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.commands.results import Overview, StatusSummary
from bot.commands.wording import training_lines
from bot.dataset.validation import DatasetReport
from handlers.slack.blocks import FEEDBACK_ACTION, build_feedback_block, build_veto_reason_modal
from handlers.slack.events import suggested_prompts
from handlers.slack.home_view import (
    HOME_CANCEL,
    HOME_COMPARE,
    HOME_ROLLBACK,
    HOME_START,
    build_home_view,
    build_start_modal,
    start_options,
)
from storage.jobs import JobRecord

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def job(**changes) -> JobRecord:
    values = dict(
        id="ftjob-1",
        base_model="gpt-4.1-mini-2025-04-14",
        epochs=3,
        started_by="UADMIN",
        channel="C1",
        examples=12,
        tokens=3456,
        billed_tokens=10368,
        status="running",
        created_at=NOW - timedelta(minutes=30),
    )
    return JobRecord(**{**values, **changes})


def report(**changes) -> DatasetReport:
    values = dict(
        model="gpt-4.1-mini-2025-04-14",
        total=12,
        trainable=12,
        invalid=0,
        errors={},
        error_samples={},
        dropped_too_long=0,
        tokens_total=3456,
        tokens_min=100,
        tokens_max=500,
        tokens_mean=288.0,
        tokens_median=280.0,
        assistant_tokens=1200,
        n_epochs=3,
        billed_tokens=10368,
        estimated_cost_usd=0.05,
        warnings=[],
        can_train=True,
        refusal=None,
    )
    return DatasetReport(**{**values, **changes})


def overview(active: JobRecord | None = None, fine_tuned: bool = False) -> Overview:
    status = StatusSummary(
        12,
        3456,
        "ft:gpt-4.1-mini:acme::abc" if fine_tuned else "gpt-4.1-mini",
        is_fine_tuned=fine_tuned,
        active_job=active,
        waiting=2,
        vetoed=1,
        min_votes=2,
    )
    return Overview(status, NOW if fine_tuned else None, report())


def action_ids(view: dict) -> set[str]:
    return {
        element.get("action_id")
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def test_an_admin_home_shows_the_dataset_the_estimate_and_a_start_button():
    view = build_home_view(overview(), is_admin=True)
    text = json.dumps(view)
    assert view["type"] == "home"
    assert "12 examples" in text and "2 waiting for votes" in text and "1 vetoed" in text
    assert "$0.05" in text
    assert action_ids(view) == {HOME_START, HOME_COMPARE}


def test_a_running_job_offers_cancel_and_a_tuned_model_offers_rollback_with_confirmation():
    view = build_home_view(overview(job(step=5, total_steps=20), fine_tuned=True), is_admin=True)
    assert action_ids(view) == {HOME_CANCEL, HOME_COMPARE, HOME_ROLLBACK}
    buttons = [
        b for block in view["blocks"] if block["type"] == "actions" for b in block["elements"]
    ]
    assert all("confirm" in b for b in buttons if b["action_id"] != HOME_COMPARE)
    assert "25% (step 5 of 20)" in json.dumps(view, ensure_ascii=False)
    assert "since <!date^" in json.dumps(view)


def test_a_non_admin_home_has_no_admin_buttons():
    view = build_home_view(overview(job()), is_admin=False, notice="Only fine-tune admins")
    assert action_ids(view) == set()
    assert "for fine-tune admins" in json.dumps(view)
    assert view["blocks"][1]["text"]["text"] == "> Only fine-tune admins"


def test_the_start_modal_is_a_placeholder_then_the_estimate_and_the_options():
    checking = build_start_modal(None, ["m1"], "m1", checking=True)
    assert "submit" not in checking and "Checking" in json.dumps(checking)
    form = build_start_modal(report(), ["m1", "gpt-4.1-mini-2025-04-14"], "m1")
    blocks = {block.get("block_id"): block for block in form["blocks"]}
    assert {"model", "method", "epochs", "suffix", "holdout", "channel"} <= set(blocks)
    assert blocks["model"]["element"]["initial_option"]["value"] == "m1"
    assert "$0.05" in json.dumps(form)
    refused = build_start_modal(report(can_train=False, refusal="Too few examples."), ["m1"], "m1")
    assert "submit" not in refused and "Too few examples." in json.dumps(refused)


def test_a_submitted_start_form_becomes_the_commands_options():
    values = {
        "model": {"value": {"type": "static_select", "selected_option": {"value": "m1"}}},
        "epochs": {"value": {"type": "plain_text_input", "value": " 4 "}},
        "suffix": {"value": {"type": "plain_text_input", "value": None}},
        "channel": {"value": {"type": "conversations_select", "selected_conversation": "C9"}},
    }
    assert start_options(values) == ({"model": "m1", "epochs": "4"}, "C9")


def test_the_feedback_buttons_and_the_veto_reason_box():
    block = build_feedback_block()
    [buttons] = block["elements"]
    assert block["type"] == "context_actions" and buttons["type"] == "feedback_buttons"
    assert buttons["action_id"] == FEEDBACK_ACTION
    assert {buttons["positive_button"]["value"], buttons["negative_button"]["value"]} == {
        "good",
        "bad",
    }
    modal = build_veto_reason_modal('{"ts": "1.2"}')
    assert modal["private_metadata"] == '{"ts": "1.2"}'
    assert modal["blocks"][-1]["optional"] is True


def test_suggested_prompts_get_short_titles_and_keep_the_whole_message():
    long = "Draft a short, friendly reply to a customer who is waiting on a refund."
    [short, shortened] = suggested_prompts(("Hi?", long))
    assert short == {"title": "Hi?", "message": "Hi?"}
    assert len(shortened["title"]) <= 40 and shortened["title"].endswith("…")
    assert shortened["message"] == long


def test_training_lines_show_the_pace_from_the_first_step():
    running = job(
        step=10,
        total_steps=40,
        train_loss=0.5,
        valid_loss=0.6,
        loss_trend=[2.0, 1.0, 0.5],
        training_since=NOW - timedelta(minutes=10),
    )
    bar, timing, losses = training_lines(running, now=NOW)
    assert bar.endswith("25% (step 10 of 40)")
    assert timing == "Elapsed 30 min · about 30 min left"
    assert losses == "Training loss 0.5000 · validation loss 0.6000 · so far `█▃▁`"
