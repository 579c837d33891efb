"""App Home and its start-a-job modal: pure functions from core results to Slack views."""

from __future__ import annotations

from datetime import datetime

from bot.commands.language import METHODS
from bot.commands.results import Overview
from bot.commands.wording import (
    CURATION_HINT,
    dataset_line,
    finished_job_lines,
    model_line,
    report_facts,
)
from bot.validation import DatasetReport
from handlers.slack.blocks import (
    build_job_blocks,
    button,
    confirmation,
    context,
    facts_text,
    section,
)

HOME_START, HOME_CANCEL, HOME_ROLLBACK = "home_start", "home_cancel", "home_rollback"
HOME_COMPARE = "home_compare"
START_CALLBACK, COMPARE_CALLBACK = "home_start_job", "home_compare_models"
# The start modal's inputs: block id = the `/finetune start` option it sets.
START_OPTIONS = ("model", "method", "epochs", "suffix", "holdout", "beta")
REPORT_CHANNEL = "channel"
ADMINS_ONLY_NOTE = "Starting, cancelling and rolling back jobs is for fine-tune admins."


def build_home_view(overview: Overview, *, is_admin: bool, notice: str | None = None) -> dict:
    """One person's App Home: the model, the dataset, the next job's estimate, the jobs; and
    for admins, the buttons that act on them."""
    status = overview.status
    blocks: list[dict] = [{"type": "header", "text": _plain("Fine-tuning")}]
    if notice:
        blocks.append(section(f"> {notice}"))
    since = f" since {_when(overview.model_since)}" if overview.model_since else ""
    blocks += [
        section(f"*Model in use:* {model_line(status)}{since}"),
        section(f"*Dataset:* {dataset_line(status)}"),
        section(f"*Next job:* {next_job_line(overview.next_job)}"),
    ]
    if status.warning:
        blocks.append(section(f"⚠️ {status.warning}"))
    if status.active_job:
        blocks += build_job_blocks(status.active_job)
    if status.finished_jobs:
        lines = ["*Last jobs:*", *finished_job_lines(status.finished_jobs)]
        blocks.append(section("\n".join(lines)))
    blocks.append({"type": "divider"})
    if is_admin:
        blocks.append(_admin_actions(overview))
    else:
        blocks.append(context(ADMINS_ONLY_NOTE))
    blocks.append(context(CURATION_HINT + " Or press 👍 under it."))
    return {"type": "home", "blocks": blocks}


def next_job_line(report: DatasetReport | None) -> str:
    if report is None:
        return "nothing to train yet."
    if not report.can_train:
        return f"at `{report.model}`: {report.refusal or 'not ready yet.'}"
    return f"at `{report.model}`: {facts_text(report_facts(report))}"


def _admin_actions(overview: Overview) -> dict:
    status = overview.status
    buttons = []
    if status.active_job is None:
        buttons.append(button("Start a job…", HOME_START, style="primary"))
    else:
        buttons.append(
            button(
                "Cancel the job",
                HOME_CANCEL,
                style="danger",
                confirm=confirmation(
                    "Cancel the job?", "Training stops; what ran is still billed."
                ),
            )
        )
    buttons.append(button("Compare models…", HOME_COMPARE))
    if status.is_fine_tuned:
        buttons.append(
            button(
                "Roll back",
                HOME_ROLLBACK,
                confirm=confirmation(
                    "Roll back?", "I go back to answering with the previous model."
                ),
            )
        )
    return {"type": "actions", "block_id": "home_admin", "elements": buttons}


def build_start_modal(
    report: DatasetReport | None, models: list[str], default_model: str, *, checking: bool = False
) -> dict:
    """The start form: the estimate at the default options, then `/finetune start`'s options.
    While `checking`, a placeholder (the trigger to open a modal lasts 3 s; the estimate may
    take longer, so the form is filled in by views.update)."""
    modal = {
        "type": "modal",
        "callback_id": START_CALLBACK,
        "title": _plain("Start a fine-tuning job"),
        "close": _plain("Cancel"),
    }
    if checking:
        return {**modal, "blocks": [section("Checking the dataset and the cost…")]}
    if report is None or not report.can_train:
        why = report.refusal if report else "The dataset is empty."
        return {**modal, "blocks": [section(f"Nothing can be trained yet: {why}")]}
    blocks = [
        section(f"*Estimate at `{report.model}`:* {facts_text(report_facts(report))}"),
        context("Another model or more epochs change the cost; the job's message shows it."),
        _input("model", "Base model", _select(models, default_model)),
        _input("method", "Method", _select(list(METHODS), "supervised")),
        _input("epochs", "Epochs", _text("auto"), optional=True),
        _input("suffix", "Model name suffix", _text("e.g. support-v2"), optional=True),
        _input("holdout", "Validation share", _text("auto: 10% from 100 examples"), optional=True),
        _input("beta", "DPO beta", _text("DPO only; empty: the provider's default"), optional=True),
        _input(
            REPORT_CHANNEL,
            "Report progress in",
            {"type": "conversations_select", "action_id": "value"},
            optional=True,
            hint="Empty: our direct messages.",
        ),
    ]
    return {**modal, "submit": _plain("Start"), "blocks": blocks}


def build_compare_modal() -> dict:
    """`/finetune compare` as a form: the prompt, the other model, and where to post it (the
    team picks there)."""
    return {
        "type": "modal",
        "callback_id": COMPARE_CALLBACK,
        "title": _plain("Compare models"),
        "submit": _plain("Compare"),
        "close": _plain("Cancel"),
        "blocks": [
            _input(
                "prompt",
                "What to ask both models",
                {**_text("a question your team asks"), "multiline": True},
            ),
            _input(
                "model",
                "Other model",
                _text("empty: the newest tuned one not in use"),
                optional=True,
            ),
            _input(
                REPORT_CHANNEL,
                "Post it in",
                {"type": "conversations_select", "action_id": "value"},
                hint="Everyone there can pick the better answer.",
            ),
        ],
    }


def start_options(values: dict) -> tuple[dict[str, str], str | None]:
    """The `/finetune start` options a submitted start modal sets, and its report channel."""
    options = {}
    for name in START_OPTIONS:
        field = values.get(name, {}).get("value", {})
        value = (field.get("selected_option") or {}).get("value") or field.get("value")
        if value and value.strip():
            options[name] = value.strip()
    channel = values.get(REPORT_CHANNEL, {}).get("value", {}).get("selected_conversation")
    return options, channel


def _when(moment: datetime) -> str:
    # Slack shows this date in each reader's own time zone.
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{moment:%Y-%m-%d}>"


def _plain(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def _select(names: list[str], initial: str) -> dict:
    options = [{"text": _plain(name), "value": name} for name in names[:100]]
    select = {"type": "static_select", "action_id": "value", "options": options}
    if initial in names[:100]:
        select["initial_option"] = {"text": _plain(initial), "value": initial}
    return select


def _text(placeholder: str) -> dict:
    return {"type": "plain_text_input", "action_id": "value", "placeholder": _plain(placeholder)}


def _input(
    block_id: str, label: str, element: dict, *, optional: bool = False, hint: str | None = None
) -> dict:
    block = {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint)
    return block
