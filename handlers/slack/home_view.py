"""App Home and its start-a-job modal: pure functions from core results to Slack views."""

from __future__ import annotations

from datetime import datetime

from bot.commands.results import Overview
from bot.commands.table import COMMANDS, METHODS
from bot.commands.wording import (
    CURATION_HINT,
    dataset_line,
    model_line,
    report_facts,
)
from bot.dataset.validation import DatasetReport
from handlers.slack.blocks import (
    button,
    confirmation,
    context,
    facts_text,
    input_block,
    jobs_blocks,
    modal,
    plain,
    section,
    text_input,
)
from handlers.slack.escaping import escape, escaped

HOME_START, HOME_CANCEL, HOME_ROLLBACK = "home_start", "home_cancel", "home_rollback"
HOME_COMPARE = "home_compare"
START_CALLBACK, COMPARE_CALLBACK = "home_start_job", "home_compare_models"
# The start modal's inputs: block id = the `/finetune start` option it sets.
START_OPTIONS = tuple(option.name for option in COMMANDS["start"].options)
REPORT_CHANNEL = "channel"
CHANNEL_PICKER = {"type": "conversations_select", "action_id": "value"}
ADMINS_ONLY_NOTE = "Starting, cancelling and rolling back jobs is for fine-tune admins."


def build_home_view(overview: Overview, *, is_admin: bool, notice: str | None = None) -> dict:
    """One person's App Home: the model, the dataset, the next job's estimate, the jobs; and
    for admins, the buttons that act on them. `notice` is mrkdwn, already escaped."""
    status = overview.status
    shown = escaped(status)
    blocks: list[dict] = [{"type": "header", "text": plain("Fine-tuning")}]
    if notice:
        blocks.append(section(f"> {notice}"))
    since = f" since {_when(overview.model_since)}" if overview.model_since else ""
    blocks += [
        section(f"*Model in use:* {model_line(shown)}{since}"),
        section(f"*Dataset:* {dataset_line(shown)}"),
        section(f"*Next job:* {next_job_line(overview.next_job)}"),
    ]
    if shown.training:
        blocks.append(section(f"*Training policy:* {shown.training}"))
    blocks += jobs_blocks(status)
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
    report = escaped(report)
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
    report: DatasetReport | None,
    models: list[str],
    default_model: str,
    *,
    checking: bool = False,
    providers: tuple[list[str], str | None] = ([], None),
) -> dict:
    """The start form: the estimate at the default options, then `/finetune start`'s options.
    While `checking`, a placeholder (the trigger to open a modal lasts 3 s; the estimate may
    take longer, so the form is filled in by views.update)."""
    title = "Start a fine-tuning job"
    if checking:
        return modal(START_CALLBACK, title, [section("Checking the dataset and the cost…")])
    if report is None or not report.can_train:
        why = escape(report.refusal or "not ready yet.") if report else "The dataset is empty."
        return modal(START_CALLBACK, title, [section(f"Nothing can be trained yet: {why}")])
    shown = escaped(report)
    blocks = [
        section(f"*Estimate at `{shown.model}`:* {facts_text(report_facts(shown))}"),
        context("Another model or more epochs change the cost; the job's message shows it."),
        input_block("model", "Base model", _select(models, default_model)),
        input_block("method", "Method", _select(list(METHODS), "supervised")),
        _optional("epochs", "Epochs", "auto"),
        _optional("suffix", "Model name suffix", "e.g. support-v2"),
        _optional("holdout", "Validation share", "auto: 10% from 100 examples"),
        _optional("beta", "DPO beta", "DPO only; empty: the provider's default"),
        input_block(
            REPORT_CHANNEL,
            "Report progress in",
            CHANNEL_PICKER,
            optional=True,
            hint="Empty: our direct messages.",
        ),
    ]
    names, default_provider = providers
    if len(names) > 1:  # with one, there is nothing to choose
        where = input_block("provider", "Train on", _select(names, default_provider or names[0]))
        blocks.insert(2, where)
    return modal(START_CALLBACK, title, blocks, submit="Start")


def build_compare_modal() -> dict:
    """`/finetune compare` as a form: the prompt, the other model, and where to post it (the
    team picks there)."""
    prompt = text_input(placeholder="a question your team asks", multiline=True)
    blocks = [
        input_block("prompt", "What to ask both models", prompt),
        _optional("model", "Other model", "empty: the newest tuned one not in use"),
        _optional("provider", "Its provider", "empty: where it was used before, or the default"),
        input_block(
            REPORT_CHANNEL,
            "Post it in",
            CHANNEL_PICKER,
            hint="Everyone there can pick the better answer.",
        ),
    ]
    return modal(COMPARE_CALLBACK, "Compare models", blocks, submit="Compare")


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


def _select(names: list[str], initial: str) -> dict:
    options = [{"text": plain(name), "value": name} for name in names[:100]]
    select = {"type": "static_select", "action_id": "value", "options": options}
    if initial in names[:100]:
        select["initial_option"] = {"text": plain(initial), "value": initial}
    return select


def _optional(block_id: str, label: str, placeholder: str) -> dict:
    return input_block(block_id, label, text_input(placeholder=placeholder), optional=True)
