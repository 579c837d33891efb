"""Block Kit builders: pure functions from core results to Slack blocks."""

from __future__ import annotations

from bot.commands.language import usage_lines
from bot.commands.results import ComparisonRecord, StatusSummary
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


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def button(
    text: str,
    action_id: str,
    *,
    value: str | None = None,
    style: str | None = None,
    confirm: dict | None = None,
) -> dict:
    element = {"type": "button", "text": {"type": "plain_text", "text": text}}
    element["action_id"] = action_id
    optional = {"value": value, "style": style, "confirm": confirm}
    return {**element, **{key: item for key, item in optional.items() if item is not None}}


def confirmation(title: str, text: str, yes: str = "Yes", no: str = "No") -> dict:
    """The "are you sure?" a button shows before it acts."""

    def plain(words: str) -> dict:
        return {"type": "plain_text", "text": words}

    return {"title": plain(title), "text": plain(text), "confirm": plain(yes), "deny": plain(no)}


def facts_text(facts: Facts) -> str:
    return " · ".join(f"*{label}:* {value}" for label, value in facts)


def build_status_blocks(summary: StatusSummary) -> list[dict]:
    blocks = [
        section(f"*Dataset:* {dataset_line(summary)}"),
        section(f"*Model in use:* {model_line(summary)}"),
    ]
    if summary.warning:
        blocks.append(section(f"⚠️ {summary.warning}"))
    if summary.active_job:
        blocks += build_job_blocks(summary.active_job)
    if summary.finished_jobs:
        blocks.append(
            section("\n".join(["*Last jobs:*", *finished_job_lines(summary.finished_jobs)]))
        )
    return [*blocks, {"type": "divider"}, build_help_block()]


def build_help_block() -> dict:
    return section("\n".join([CURATION_HINT, *usage_lines()]))


def status_text(summary: StatusSummary) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return f"Dataset: {summary.examples} examples. Model in use: {summary.model}."


def build_job_blocks(job: JobRecord) -> list[dict]:
    lines = [f"*{job_title(job)}*  ({job_origin(job)})", facts_text(job_facts(job))]
    return [section("\n".join([*lines, *job_progress_lines(job)]))]


def build_report_blocks(report: DatasetReport) -> list[dict]:
    lines = [f"*{report_title(report)}*", facts_text(report_facts(report))]
    if spread := report_spread(report):
        lines.append(spread)
    lines += [f"⚠️ {warning}" for warning in report.warnings]
    return [section("\n".join(lines))]


def build_models_blocks(
    current: str, history: list[ModelSwap], records: dict[str, ComparisonRecord]
) -> list[dict]:
    lines = [f"*Model in use:* `{current}`", *model_history_lines(history, records)]
    return [section("\n".join(lines))]


FEEDBACK_ACTION = "reply_feedback"
GOOD, BAD = "good", "bad"


def build_feedback_block() -> dict:
    """Slack's native 👍/👎 under a reply: 👍 votes it into the dataset, 👎 vetoes it."""
    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": {
                    "text": {"type": "plain_text", "text": "Good reply"},
                    "accessibility_label": "Good reply: make it a training example",
                    "value": GOOD,
                },
                "negative_button": {
                    "text": {"type": "plain_text", "text": "Bad reply"},
                    "accessibility_label": "Bad reply: keep it out of training",
                    "value": BAD,
                },
            }
        ],
    }


VETO_REASON_CALLBACK = "veto_reason"
VETO_REASON_BLOCK, VETO_REASON_INPUT = "reason", "text"
VETO_REASON_MAX_CHARS = 2000


def build_veto_reason_modal(metadata: str) -> dict:
    """After a 👎: an optional "what was wrong?" kept with the veto; `metadata` names it."""
    return {
        "type": "modal",
        "callback_id": VETO_REASON_CALLBACK,
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            section(
                "Your 👎 keeps this reply out of training. If you say what was wrong, it is "
                "kept with the veto for whoever curates the dataset."
            ),
            {
                "type": "input",
                "block_id": VETO_REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What was wrong? (optional)"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": VETO_REASON_INPUT,
                    "multiline": True,
                    "max_length": VETO_REASON_MAX_CHARS,
                },
            },
        ],
    }


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
            section(
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
