"""Block Kit builders: pure functions from core results to Slack blocks."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.commands.language import usage_lines
from bot.validation import DatasetReport
from storage.jobs import JobRecord
from storage.models import ModelSwap


@dataclass(frozen=True)
class StatusSummary:
    examples: int
    approx_tokens: int
    model: str
    is_fine_tuned: bool
    active_job: JobRecord | None = None
    finished_jobs: list[JobRecord] = field(default_factory=list)
    warning: str | None = None


def build_status_blocks(summary: StatusSummary) -> list[dict]:
    model_note = " (fine-tuned)" if summary.is_fine_tuned else ""
    dataset = (
        f"*Dataset:* {summary.examples:,} example{'s' if summary.examples != 1 else ''}, "
        f"about {summary.approx_tokens:,} tokens"
    )
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": dataset}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Model in use:* `{summary.model}`{model_note}"},
        },
    ]
    if summary.warning:
        blocks.append(_section(f":warning: {summary.warning}"))
    if summary.active_job:
        blocks += build_job_blocks(summary.active_job)
    if summary.finished_jobs:
        lines = ["*Last jobs:*"]
        for job in summary.finished_jobs:
            result = f"`{job.fine_tuned_model}`" if job.fine_tuned_model else (job.error or "")
            lines.append(f"• `{job.id}` {job.status} {result}".rstrip())
        blocks.append(_section("\n".join(lines)))
    return [*blocks, {"type": "divider"}, build_help_block()]


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def build_help_block() -> dict:
    lines = [
        "React to a good bot reply with a curation emoji to add it to the dataset.",
        *usage_lines(),
    ]
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def status_text(summary: StatusSummary) -> str:
    """Plain-text fallback for notifications and screen readers."""
    return f"Dataset: {summary.examples} examples. Model in use: {summary.model}."


STATUS_LABELS = {
    "preparing": "preparing",
    "uploading": "uploading the dataset",
    "validating": "OpenAI is checking the files",
    "validating_files": "OpenAI is checking the files",
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "cancelled",
    "lost": "lost (OpenAI no longer knows it)",
}


def job_text(job: JobRecord) -> str:
    return f"Fine-tuning {job.base_model}: {STATUS_LABELS.get(job.status, job.status)}"


def build_job_blocks(job: JobRecord) -> list[dict]:
    cost = f"${job.estimated_cost_usd:,.2f}" if job.estimated_cost_usd is not None else "unknown"
    facts = [
        f"*Examples:* {job.examples:,}",
        f"*Tokens:* {job.tokens:,}",
        f"*Epochs:* {job.epochs}",
        f"*Est. billed tokens:* {job.billed_tokens:,}",
        f"*Est. cost:* {cost}",
    ]
    lines = [f"*{job_text(job)}*  (`{job.id}`, started by <@{job.started_by}>)", " · ".join(facts)]
    if job.step is not None:
        progress = f"Step {job.step} of {job.total_steps or '?'}"
        if job.train_loss is not None:
            progress += f", training loss {job.train_loss:.4f}"
        lines.append(progress)
    if job.trained_tokens:
        lines.append(f"Trained tokens: {job.trained_tokens:,}")
    if job.fine_tuned_model:
        lines.append(f"Model: `{job.fine_tuned_model}`")
    if job.prompt_tokens_saved > 0:
        lines.append(f"Shorter training prompt saves {job.prompt_tokens_saved:,} tokens a request.")
    if job.error:
        lines.append(f":warning: {job.error}")
    if job.events:
        lines.append("\n".join(f"> {event}" for event in job.events))
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]


def build_report_blocks(report: DatasetReport) -> list[dict]:
    cost = (
        f"${report.estimated_cost_usd:,.2f}" if report.estimated_cost_usd is not None else "unknown"
    )
    verdict = "Ready to train." if report.can_train else (report.refusal or "Can't train yet.")
    lines = [
        f"*Dataset check for `{report.model}`:* {verdict}",
        f"{report.trainable:,} of {report.total:,} examples usable · {report.tokens_total:,} tokens"
        f" · {report.n_epochs} epochs · est. {report.billed_tokens:,} billed tokens · est. {cost}",
    ]
    if report.tokens_total:
        lines.append(
            f"Tokens per example: min {report.tokens_min}, median {report.tokens_median:.0f}, "
            f"max {report.tokens_max}"
        )
    lines += [f":warning: {warning}" for warning in report.warnings]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]


def build_models_blocks(current: str, history: list[ModelSwap]) -> list[dict]:
    lines = [f"*Model in use:* `{current}`"]
    for swap in history:
        source = f"job `{swap.job_id}`" if swap.job_id else swap.reason
        who = f" by <@{swap.by}>" if swap.by else ""
        lines.append(f"• `{swap.model}`: {swap.at:%Y-%m-%d %H:%M} UTC, {source}{who}")
    if not history:
        lines.append("No fine-tuned model yet; I use the configured CHAT_MODEL.")
    return [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
