"""Core results as terminal text: the same words as Slack and Discord, without markup."""

from __future__ import annotations

import re

from bot.commands import results, wording
from bot.commands.language import usage_lines
from bot.dataset.validation import DatasetReport, describe_problems

_MENTION = re.compile(r"<@([^>]+)>")


def plain(text: str) -> str:
    """Chat markup read in a terminal: `<@U123>` as @U123, code without its backticks."""
    return _MENTION.sub(r"@\1", text).replace("`", "")


def render(result: results.CommandResult) -> list[str]:
    match result:
        case results.Sentence(text):
            return [plain(text)]
        case results.Help(problem):
            lines = [problem, ""] if problem else [wording.CURATION_HINT, ""]
            return [plain(line) for line in [*lines, *usage_lines(in_chat=False)]]
        case results.StatusSummary():
            return status_lines(result)
        case DatasetReport():
            return report_lines(result)
        case results.ModelList(current, history, records):
            lines = wording.model_history_lines(history, records)
            return [f"Model in use: {current}", *map(plain, lines)]
        case results.DatasetFile():
            return [f"{result.filename}: {wording.file_contents(result)}"]
        case results.ProviderList():
            return [plain(line) for line in wording.provider_lines(result)]
    return [str(result)]


def status_lines(summary: results.StatusSummary) -> list[str]:
    lines = [
        f"Dataset: {wording.dataset_line(summary)}",
        plain(f"Model in use: {wording.model_line(summary)}"),
    ]
    if summary.training:
        lines.append(plain(f"Training policy: {summary.training}"))
    if summary.warning:
        lines.append(plain(f"⚠️ {summary.warning}"))
    if job := summary.active_job:
        lines.append(job_line(job))
    if summary.finished_jobs:
        lines += ["Last jobs:", *map(plain, wording.finished_job_lines(summary.finished_jobs))]
    return lines


def job_line(job) -> str:
    progress = wording.job_progress_lines(job)
    facts = " · ".join(f"{label}: {value}" for label, value in wording.job_facts(job))
    return plain(" | ".join([wording.job_title(job), facts, *progress[:2]]))


def report_lines(report: DatasetReport, item: str = "example") -> list[str]:
    facts = " · ".join(f"{label}: {value}" for label, value in wording.report_facts(report, item))
    lines = [plain(wording.report_title(report)), facts]
    if spread := wording.report_spread(report):
        lines.append(spread)
    lines += [f"Assistant tokens: {report.assistant_tokens:,}"]
    # The rest of what the cookbook's data-prep notebook prints.
    if report.trainable:
        lines.append(
            f"Examples missing a system message: {report.missing_system:,} · "
            f"missing a user message: {report.missing_user:,}"
        )
    for name, spread in (
        ("Messages per example", report.messages_per_example),
        ("Assistant tokens per example", report.assistant_tokens_per_example),
    ):
        if spread is not None:
            lines.append(wording.distribution_line(name, spread))
    lines += describe_problems(report, item)
    lines += [f"⚠️ {warning}" for warning in report.warnings if "skipped:" not in warning]
    return lines
