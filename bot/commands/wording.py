"""The words every front end shows for results: labels, facts and lines, without markup.

Slack blocks and Discord embeds lay these out differently (bold, fields, quotes), but say the
same things; only `<@user>` mentions, backticks and `> ` quotes appear, which both render.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.commands.results import ComparisonRecord, DatasetFile, ProviderList, StatusSummary
from bot.conversation.forgetting import Forgotten
from bot.dataset.validation import DatasetReport
from bot.dataset.validation.distribution import Distribution
from bot.training.progress import format_duration, progress_bar, sparkline, time_left
from storage.jobs import JobRecord
from storage.models import ModelSwap

CURATION_HINT = "React to a good bot reply with a curation emoji to add it to the dataset."
NO_TUNED_MODEL = "No fine-tuned model yet; I use the configured CHAT_MODEL."

STATUS_LABELS = {
    "preparing": "preparing",
    "uploading": "uploading the dataset",
    "validating": "the provider is checking the files",
    "validating_files": "the provider is checking the files",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "lost": "lost (the provider no longer knows it)",
}

Facts = list[tuple[str, str]]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"


def dataset_line(summary: StatusSummary) -> str:
    """`5 examples, about 900 tokens` and, when there are any, what is held back and the pairs."""
    line = f"{plural(summary.examples, 'example')}, about {summary.approx_tokens:,} tokens"
    extra = []
    if summary.waiting:
        extra.append(f"{summary.waiting:,} waiting for votes ({summary.min_votes} needed)")
    if summary.vetoed:
        extra.append(f"{summary.vetoed:,} vetoed")
    if summary.pairs:
        extra.append(plural(summary.pairs, "preference pair"))
    if summary.redactions:
        extra.append(f"{plural(summary.redactions, 'redaction')} made before storing")
    return f"{line}; {', '.join(extra)}" if extra else line


def model_line(summary: StatusSummary) -> str:
    where = f" on {summary.model_provider}" if summary.model_provider else ""
    spend = f"; {summary.spend}" if summary.spend else ""
    return f"`{summary.model}`{' (fine-tuned)' if summary.is_fine_tuned else ''}{where}{spend}"


def file_contents(file: DatasetFile) -> str:
    """`12 examples in OpenAI chat JSONL`, or the preference pairs' equivalent."""
    if file.kind == "dpo":
        return f"{plural(file.examples, 'preference pair')} in OpenAI's preference (DPO) JSONL"
    return f"{plural(file.examples, 'example')} in OpenAI chat JSONL"


def finished_job_lines(jobs: list[JobRecord]) -> list[str]:
    lines = []
    for job in jobs:
        result = f"`{job.fine_tuned_model}`" if job.fine_tuned_model else (job.error or "")
        lines.append(f"• `{job.id}` {job.status} {result}".rstrip())
    return lines


def _usd(amount: float | None) -> str:
    return f"${amount:,.2f}" if amount is not None else "unknown"


def job_title(job: JobRecord) -> str:
    return f"Fine-tuning {job.base_model}: {STATUS_LABELS.get(job.status, job.status)}"


def job_origin(job: JobRecord) -> str:
    if job.policy:
        return f"`{job.id}`, started by the policy ({job.policy})"
    return f"`{job.id}`, started by <@{job.started_by}>"


def job_facts(job: JobRecord) -> Facts:
    return [
        ("Examples", f"{job.examples:,}"),
        ("Tokens", f"{job.tokens:,}"),
        ("Epochs", str(job.epochs)),
        ("Est. billed tokens", f"{job.billed_tokens:,}"),
        ("Est. cost", _usd(job.estimated_cost_usd)),
    ]


def job_progress_lines(job: JobRecord) -> list[str]:
    """Step and loss, trained tokens, the model, the saving, the error and the latest events."""
    lines = training_lines(job) if job.step is not None else []
    if job.trained_tokens:
        lines.append(f"Trained tokens: {job.trained_tokens:,}")
    if job.fine_tuned_model:
        lines.append(f"Model: `{job.fine_tuned_model}`")
    if job.prompt_tokens_saved > 0:
        lines.append(f"Shorter training prompt saves {job.prompt_tokens_saved:,} tokens a request.")
    if job.comparison:
        lines.append(job.comparison)
    if job.error:
        lines.append(f"⚠️ {job.error}")
    lines += [f"> {event}" for event in job.events]
    return lines


def training_lines(job: JobRecord, now: datetime | None = None) -> list[str]:
    """Steps done (a bar), elapsed and left, the latest losses and their trend so far."""
    step, total = job.step or 0, job.total_steps or 0
    lines = [progress_bar(step, total) or f"Step {step}"]
    now = now or datetime.now(UTC)
    end = job.finished_at or now
    timing = f"Elapsed {format_duration((end - job.created_at).total_seconds())}"
    if job.training_since and not job.is_finished:
        left = time_left((now - job.training_since).total_seconds(), step, total)
        if left is not None:
            timing += f" · about {format_duration(left)} left"
    lines.append(timing)
    losses = []
    if job.train_loss is not None:
        losses.append(f"Training loss {job.train_loss:.4f}")
    if job.valid_loss is not None:
        losses.append(f"validation loss {job.valid_loss:.4f}")
    if len(job.loss_trend) > 1:
        losses.append(f"so far `{sparkline(job.loss_trend)}`")
    if losses:
        lines.append(" · ".join(losses))
    return lines


def report_title(report: DatasetReport) -> str:
    verdict = "Ready to train." if report.can_train else (report.refusal or "Can't train yet.")
    return f"Dataset check for `{report.model}`: {verdict}"


def report_facts(report: DatasetReport, item: str = "example") -> Facts:
    """The report's figures; `item` is what was counted (a file's lines, the dataset's examples)."""
    return [
        ("Usable", f"{report.trainable:,} of {plural(report.total, item)}"),
        ("Tokens", f"{report.tokens_total:,}"),
        ("Epochs", str(report.n_epochs)),
        ("Est. billed tokens", f"{report.billed_tokens:,}"),
        ("Est. cost", _usd(report.estimated_cost_usd)),
    ]


def report_spread(report: DatasetReport) -> str | None:
    if not report.tokens_total:
        return None
    return (
        f"Tokens per example: min {report.tokens_min:,}, median {report.tokens_median:,.0f}, "
        f"mean {report.tokens_mean:,.1f}, max {report.tokens_max:,}"
    )


def distribution_line(name: str, spread: Distribution) -> str:
    """One of the cookbook notebook's distributions, with the figures it prints (its "p5 /
    p95" are the 10th and 90th percentiles, named here for what they are)."""
    return (
        f"{name}: min {spread.min:,}, max {spread.max:,}, mean {spread.mean:,.1f}, "
        f"median {spread.median:,.1f}, p10 {spread.p10:,.1f}, p90 {spread.p90:,.1f}"
    )


def model_history_lines(
    history: list[ModelSwap], records: dict[str, ComparisonRecord] | None = None
) -> list[str]:
    """Each model used, newest first, with its comparison record; then models compared but
    never used."""
    records = records or {}
    lines = []
    for swap in history:
        source = f"job `{swap.job_id}`" if swap.job_id else swap.reason
        who = f" by <@{swap.by}>" if swap.by else ""
        line = f"• `{swap.model}`: {swap.at:%Y-%m-%d %H:%M} UTC, {source}{who}"
        if swap.model in records:
            line += f"; compared: {record_text(records[swap.model])}"
        lines.append(line)
    used = {swap.model for swap in history}
    for model, record in records.items():
        if model not in used:
            lines.append(f"• `{model}` (not used): compared: {record_text(record)}")
    return lines or [NO_TUNED_MODEL]


def record_text(record: ComparisonRecord) -> str:
    people = ", ".join(f"<@{person}>" for person in sorted(record.people))
    return (
        f"{plural(record.wins, 'win')}, {plural(record.losses, 'loss', 'losses')}, "
        f"{plural(record.ties, 'tie')} (picked by {people})"
    )


MODELS_SHOWN = 8  # per provider: the dated ones first, then the bot's own


def provider_lines(listing: ProviderList) -> list[str]:
    """`/finetune providers` as lines of chat text, the same on every front end."""
    lines = [f"Providers ({listing.source}):"]
    for view in listing.providers:
        can = [what for what, able in (("chat", view.chat), ("train", view.train)) if able]
        defaults = f", default for {' and '.join(view.defaults)}" if view.defaults else ""
        state = "reachable" if view.reachable else "unreachable"
        head = f"• `{view.name}`: {view.label} ({view.kind}), {' and '.join(can) or 'nothing'}"
        lines.append(f"{head}{defaults}; {state}")
        if view.problem:
            lines.append(f"    {view.problem}")
        if view.in_use:
            lines.append(f"    the bot's models here: {', '.join(f'`{m}`' for m in view.in_use)}")
        dated = sorted((m for m in view.models if m[1]), key=lambda m: (m[1], m[0]))
        shown = dated[:MODELS_SHOWN]
        for model, day in shown:
            lines.append(f"    `{model}`: shuts down {day.isoformat()}")
        if view.reachable and view.listed:
            rest = view.listed - len(shown)
            lines.append(
                f"    {plural(view.listed, 'model')} listed"
                + (f", {rest:,} with no shutdown date" if rest else "")
            )
    return lines


def forgotten_words(forgotten: Forgotten) -> str:
    """What `/finetune forget-me` did, in one answer."""
    text = (
        f"Done: I removed {plural(forgotten.examples, 'example')}, "
        f"{plural(forgotten.pairs, 'preference pair')} and "
        f"{plural(forgotten.turns, 'recorded turn')} holding your messages or written by you"
    )
    if forgotten.copies:
        text += f", with {plural(forgotten.copies, 'copy', 'copies')} in job files and comparisons"
    if forgotten.judged:
        text += (
            f"; your votes and vetoes on {plural(forgotten.judged, 'reply', 'replies')} no "
            "longer name you (the votes are taken back; a veto still keeps its reply out)"
        )
    return (
        f"{text}. Your conversations and votes won't be recorded; `/finetune include-me` "
        "undoes that part."
    )
