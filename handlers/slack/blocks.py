"""Block Kit builders: pure functions from core results to Slack blocks.

Each builder takes the core's results as they are and escapes what it lays out itself (see
`escaping`); `section` and `context` take mrkdwn that is already safe.
"""

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
    plural,
    report_facts,
    report_spread,
    report_title,
)
from bot.dataset.validation import DatasetReport
from handlers.slack.escaping import escape, escaped
from storage.jobs import JobRecord
from storage.models import ModelSwap


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


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
    element = {"type": "button", "text": plain(text), "action_id": action_id}
    optional = {"value": value, "style": style, "confirm": confirm}
    return {**element, **{key: item for key, item in optional.items() if item is not None}}


def confirmation(title: str, text: str, yes: str = "Yes", no: str = "No") -> dict:
    """The "are you sure?" a button shows before it acts."""
    return {"title": plain(title), "text": plain(text), "confirm": plain(yes), "deny": plain(no)}


def modal(
    callback_id: str,
    title: str,
    blocks: list[dict],
    *,
    submit: str | None = None,
    close: str = "Cancel",
    metadata: str | None = None,
) -> dict:
    """A modal; without `submit` it only informs (no submit button)."""
    view = {"type": "modal", "callback_id": callback_id, "title": plain(title)}
    if metadata is not None:
        view["private_metadata"] = metadata
    if submit:
        view["submit"] = plain(submit)
    return {**view, "close": plain(close), "blocks": blocks}


def input_block(
    block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None
) -> dict:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = plain(hint)
    return block


def text_input(action_id: str = "value", *, placeholder: str | None = None, **more) -> dict:
    """A plain-text input; `more` sets `multiline`, `initial_value`, `max_length`."""
    element = {"type": "plain_text_input", "action_id": action_id, **more}
    if placeholder:
        element["placeholder"] = plain(placeholder)
    return element


def facts_text(facts: Facts) -> str:
    return " · ".join(f"*{label}:* {value}" for label, value in facts)


def build_status_blocks(summary: StatusSummary) -> list[dict]:
    shown = escaped(summary)
    blocks = [
        section(f"*Dataset:* {dataset_line(shown)}"),
        section(f"*Model in use:* {model_line(shown)}"),
    ]
    if shown.training:
        blocks.append(section(f"*Training policy:* {shown.training}"))
    return [*blocks, *jobs_blocks(summary), {"type": "divider"}, build_help_block()]


def jobs_blocks(summary: StatusSummary) -> list[dict]:
    """The backend's warning, the active job and the last finished ones (status and Home)."""
    blocks = [section(f"⚠️ {escape(summary.warning)}")] if summary.warning else []
    if summary.active_job:
        blocks += build_job_blocks(summary.active_job)
    if summary.finished_jobs:
        lines = ["*Last jobs:*", *finished_job_lines(escaped(summary.finished_jobs))]
        blocks.append(section("\n".join(lines)))
    return blocks


def build_help_block() -> dict:
    # The usage's `<model>` and `<prompt>` are meant as written, not as Slack links.
    return section(escape("\n".join([CURATION_HINT, *usage_lines()])))


def status_text(summary: StatusSummary) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return f"Dataset: {plural(summary.examples, 'example')}. Model in use: {escape(summary.model)}."


def build_job_blocks(job: JobRecord) -> list[dict]:
    job = escaped(job)  # its provider's errors and events, its model names
    lines = [f"*{job_title(job)}*  ({job_origin(job)})", facts_text(job_facts(job))]
    return [section("\n".join([*lines, *job_progress_lines(job)]))]


def build_report_blocks(report: DatasetReport) -> list[dict]:
    report = escaped(report)
    lines = [f"*{report_title(report)}*", facts_text(report_facts(report))]
    if spread := report_spread(report):
        lines.append(spread)
    lines += [f"⚠️ {warning}" for warning in report.warnings]
    return [section("\n".join(lines))]


def build_models_blocks(
    current: str, history: list[ModelSwap], records: dict[str, ComparisonRecord]
) -> list[dict]:
    history, records = escaped(history), escaped(records)
    lines = [f"*Model in use:* `{escape(current)}`", *model_history_lines(history, records)]
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
    reason = text_input(VETO_REASON_INPUT, multiline=True, max_length=VETO_REASON_MAX_CHARS)
    intro = (
        "Your 👎 keeps this reply out of training. If you say what was wrong, it is kept with "
        "the veto for whoever curates the dataset."
    )
    blocks = [
        section(intro),
        input_block(VETO_REASON_BLOCK, "What was wrong? (optional)", reason, optional=True),
    ]
    return modal(
        VETO_REASON_CALLBACK, "What was wrong?", blocks, submit="Save", close="Skip",
        metadata=metadata,
    )  # fmt: skip


CORRECTION_CALLBACK = "improve_reply"
CORRECTION_BLOCK, CORRECTION_INPUT = "corrected", "text"
# Slack's plain-text input holds at most 3,000 characters.
CORRECTION_MAX_CHARS = 3000


def build_correction_modal(draft: str, metadata: str) -> dict:
    """The "Improve this reply" modal: the reply's text, editable; `metadata` names the reply."""
    better = text_input(
        CORRECTION_INPUT, multiline=True, initial_value=draft, max_length=CORRECTION_MAX_CHARS
    )
    intro = (
        "Write the reply as it should have been. It becomes a training example, and the pair "
        "(yours over the original) trains preference (DPO) jobs."
    )
    blocks = [section(intro), input_block(CORRECTION_BLOCK, "Better reply", better)]
    return modal(
        CORRECTION_CALLBACK, "Improve this reply", blocks, submit="Save", metadata=metadata
    )
