"""Block Kit builders: pure functions from core results to Slack blocks."""

from __future__ import annotations

from bot.commands.language import usage_lines
from bot.commands.results import StatusSummary
from bot.commands.wording import (
    CURATION_HINT,
    Facts,
    dataset_line,
    finished_job_lines,
    job_facts,
    job_origin,
    job_progress_lines,
    job_title,
    model_history_lines,
    model_line,
    report_facts,
    report_spread,
    report_title,
)
from bot.validation import DatasetReport
from storage.jobs import JobRecord
from storage.models import ModelSwap


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _facts(facts: Facts) -> str:
    return " · ".join(f"*{label}:* {value}" for label, value in facts)


def build_status_blocks(summary: StatusSummary) -> list[dict]:
    blocks = [
        _section(f"*Dataset:* {dataset_line(summary)}"),
        _section(f"*Model in use:* {model_line(summary)}"),
    ]
    if summary.warning:
        blocks.append(_section(f"⚠️ {summary.warning}"))
    if summary.active_job:
        blocks += build_job_blocks(summary.active_job)
    if summary.finished_jobs:
        blocks.append(
            _section("\n".join(["*Last jobs:*", *finished_job_lines(summary.finished_jobs)]))
        )
    return [*blocks, {"type": "divider"}, build_help_block()]


def build_help_block() -> dict:
    return _section("\n".join([CURATION_HINT, *usage_lines()]))


def status_text(summary: StatusSummary) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return f"Dataset: {summary.examples} examples. Model in use: {summary.model}."


def build_job_blocks(job: JobRecord) -> list[dict]:
    lines = [f"*{job_title(job)}*  ({job_origin(job)})", _facts(job_facts(job))]
    return [_section("\n".join([*lines, *job_progress_lines(job)]))]


def build_report_blocks(report: DatasetReport) -> list[dict]:
    lines = [f"*{report_title(report)}*", _facts(report_facts(report))]
    if spread := report_spread(report):
        lines.append(spread)
    lines += [f"⚠️ {warning}" for warning in report.warnings]
    return [_section("\n".join(lines))]


def build_models_blocks(current: str, history: list[ModelSwap]) -> list[dict]:
    return [_section("\n".join([f"*Model in use:* `{current}`", *model_history_lines(history)]))]


CORRECTION_CALLBACK = "improve_reply"
CORRECTION_BLOCK, CORRECTION_INPUT = "corrected", "text"
# Slack's plain-text input holds at most 3,000 characters.
CORRECTION_MAX_CHARS = 3000


def build_correction_modal(draft: str, metadata: str) -> dict:
    """The "Improve this reply" modal: the reply's text, editable; `metadata` names the reply."""
    return {
        "type": "modal",
        "callback_id": CORRECTION_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Improve this reply"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            _section(
                "Write the reply as it should have been. It becomes a training example, and "
                "the pair (yours over the original) trains preference (DPO) jobs."
            ),
            {
                "type": "input",
                "block_id": CORRECTION_BLOCK,
                "label": {"type": "plain_text", "text": "Better reply"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": CORRECTION_INPUT,
                    "multiline": True,
                    "initial_value": draft,
                    "max_length": CORRECTION_MAX_CHARS,
                },
            },
        ],
    }
