"""Discord embeds say what Slack's blocks say, within Discord's limits."""

from __future__ import annotations

from bot.commands.results import StatusSummary
from handlers.discord.embeds import FIELD_LIMIT, help_embed, job_embed, status_embed
from storage.jobs import JobRecord


def job(**changes) -> JobRecord:
    values = dict(
        id="ftjob-1",
        base_model="gpt-4.1-mini-2025-04-14",
        epochs=3,
        started_by="42",
        platform="discord",
        channel="99",
        examples=12,
        tokens=3456,
        billed_tokens=10368,
        estimated_cost_usd=0.05,
        status="running",
        step=5,
        total_steps=20,
        train_loss=0.4213,
    )
    return JobRecord(**{**values, **changes})


def test_a_running_job_shows_its_facts_and_progress():
    embed = job_embed(job()).to_dict()
    assert embed["title"] == "Fine-tuning gpt-4.1-mini-2025-04-14: running"
    fields = {field["name"]: field["value"] for field in embed["fields"]}
    assert fields["Examples"] == "12" and fields["Est. cost"] == "$0.05"
    assert "25% (step 5 of 20)" in embed["description"]
    assert "Training loss 0.4213" in embed["description"]
    assert "started by <@42>" in embed["description"]


def test_status_fits_discords_field_limit_whatever_the_events():
    summary = StatusSummary(
        3, 900, "gpt-4.1-mini", False, active_job=job(events=["x" * 900, "y" * 900])
    )
    embed = status_embed(summary).to_dict()
    assert all(len(field["value"]) <= FIELD_LIMIT for field in embed["fields"])
    assert embed["fields"][0] == {
        "name": "Dataset",
        "value": "3 examples, about 900 tokens",
        "inline": False,
    }


def test_help_puts_the_problem_before_the_commands():
    description = help_embed("`epochs` must be a whole number.").to_dict()["description"]
    assert description.startswith("`epochs` must be a whole number.")
    assert "`/finetune export`" in description
