"""Discord embeds: pure functions from core results to `discord.Embed`."""

from __future__ import annotations

import discord

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


def _add_facts(embed: discord.Embed, facts: Facts) -> discord.Embed:
    for label, value in facts:
        embed.add_field(name=label, value=_fit(value, FIELD_LIMIT), inline=True)
    return embed


def status_embed(summary: StatusSummary) -> discord.Embed:
    embed = _embed("Fine-tuning status", [f"⚠️ {summary.warning}"] if summary.warning else [])
    embed.add_field(name="Dataset", value=dataset_line(summary), inline=False)
    embed.add_field(name="Model in use", value=model_line(summary), inline=False)
    if job := summary.active_job:
        lines = [job_origin(job), *job_progress_lines(job)]
        embed.add_field(
            name=job_title(job), value=_fit("\n".join(lines), FIELD_LIMIT), inline=False
        )
    if summary.finished_jobs:
        lines = finished_job_lines(summary.finished_jobs)
        embed.add_field(name="Last jobs", value=_fit("\n".join(lines), FIELD_LIMIT), inline=False)
    return embed.set_footer(text=CURATION_HINT)


def job_embed(job: JobRecord) -> discord.Embed:
    embed = _embed(
        job_title(job), [job_origin(job), *job_progress_lines(job)], COLOURS.get(job.status)
    )
    return _add_facts(embed, job_facts(job))


def report_embed(report: DatasetReport) -> discord.Embed:
    lines = [spread] if (spread := report_spread(report)) else []
    lines += [f"⚠️ {warning}" for warning in report.warnings]
    colour = discord.Colour.green() if report.can_train else discord.Colour.orange()
    return _add_facts(_embed(report_title(report), lines, colour), report_facts(report))


def models_embed(current: str, history: list[ModelSwap]) -> discord.Embed:
    return _embed("Models", [f"In use: `{current}`", *model_history_lines(history)])


def help_embed(problem: str | None = None) -> discord.Embed:
    lines = [problem, ""] if problem else [CURATION_HINT, ""]
    return _embed("/finetune commands", [*lines, *usage_lines()])
