"""Discord embeds: pure functions from core results to `discord.Embed`."""

from __future__ import annotations

import discord

from bot.commands import wording
from bot.commands.language import usage_lines
from bot.commands.results import ComparisonRecord, StatusSummary
from bot.dataset.validation import DatasetReport
from storage.jobs import JobRecord
from storage.models import ModelSwap

# Discord's limits: a title 256 characters, a description 4,096, a field 1,024.
TITLE_LIMIT, DESCRIPTION_LIMIT, FIELD_LIMIT = 256, 4096, 1024
COLOURS = {"succeeded": discord.Colour.green(), "failed": discord.Colour.red()}


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _embed(title: str, lines: list[str], colour: discord.Colour | None = None) -> discord.Embed:
    return discord.Embed(
        title=_fit(title, TITLE_LIMIT),
        description=_fit("\n".join(lines), DESCRIPTION_LIMIT) or None,
        colour=colour or discord.Colour.blurple(),
    )


def _add_lines(embed: discord.Embed, name: str, lines: list[str]) -> None:
    embed.add_field(
        name=_fit(name, TITLE_LIMIT), value=_fit("\n".join(lines), FIELD_LIMIT), inline=False
    )


def _add_facts(embed: discord.Embed, facts: wording.Facts) -> discord.Embed:
    for label, value in facts:
        embed.add_field(name=label, value=_fit(value, FIELD_LIMIT), inline=True)
    return embed


def status_embed(summary: StatusSummary) -> discord.Embed:
    embed = _embed("Fine-tuning status", [f"⚠️ {summary.warning}"] if summary.warning else [])
    _add_lines(embed, "Dataset", [wording.dataset_line(summary)])
    _add_lines(embed, "Model in use", [wording.model_line(summary)])
    if summary.training:
        _add_lines(embed, "Training policy", [summary.training])
    if job := summary.active_job:
        _add_lines(embed, wording.job_title(job), _job_lines(job))
    if summary.finished_jobs:
        _add_lines(embed, "Last jobs", wording.finished_job_lines(summary.finished_jobs))
    return embed.set_footer(text=wording.CURATION_HINT)


def _job_lines(job: JobRecord) -> list[str]:
    return [wording.job_origin(job), *wording.job_progress_lines(job)]


def job_embed(job: JobRecord) -> discord.Embed:
    embed = _embed(wording.job_title(job), _job_lines(job), COLOURS.get(job.status))
    return _add_facts(embed, wording.job_facts(job))


def report_embed(report: DatasetReport) -> discord.Embed:
    lines = [spread] if (spread := wording.report_spread(report)) else []
    lines += [f"⚠️ {warning}" for warning in report.warnings]
    colour = discord.Colour.green() if report.can_train else discord.Colour.orange()
    embed = _embed(wording.report_title(report), lines, colour)
    return _add_facts(embed, wording.report_facts(report))


def models_embed(
    current: str, history: list[ModelSwap], records: dict[str, ComparisonRecord]
) -> discord.Embed:
    lines = wording.model_history_lines(history, records)
    return _embed("Models", [f"In use: `{current}`", *lines])


def help_embed(problem: str | None = None) -> discord.Embed:
    lines = [problem, ""] if problem else [wording.CURATION_HINT, ""]
    return _embed("/finetune commands", [*lines, *usage_lines()])
