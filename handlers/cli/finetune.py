"""`python -m bot finetune …`: the operator's side of the slash commands, with a job followed
in the terminal until it ends (Ctrl-C stops following, never the job)."""

from __future__ import annotations

import asyncio
import dataclasses
import json

import click

from bot.commands.language import ParsedCommand
from bot.commands.results import Help, Sentence
from bot.faces import TerminalFace
from handlers.cli.render import job_line, render
from handlers.cli.runtime import OPERATOR, settings_or_exit, terminal

FOLLOW_SECONDS = 2.0


async def run(
    name: str,
    options: dict[str, object],
    arguments: list[str],
    *,
    follow: bool,
    as_json: bool = False,
) -> int:
    needs = ("training",) if name in ("start", "migrate") else ()
    settings = settings_or_exit(*needs)
    given = {key: str(value) for key, value in options.items() if value is not None}
    async with terminal(settings) as face:
        result = await face.commands.run(ParsedCommand(name, given, arguments), OPERATOR)
        if as_json:
            click.echo(json.dumps(_as_data(result), indent=2, default=str, ensure_ascii=False))
        else:
            for line in render(result):
                click.echo(line)
        started = result.job_id if isinstance(result, Sentence) else None
        if follow and started:
            await _follow(face, started)
    return 1 if refused(result) else 0


def refused(result: object) -> bool:
    """A refusal or a failure: the terminal exits non-zero, as scripts expect."""
    return (isinstance(result, Sentence) and result.refused) or (
        isinstance(result, Help) and bool(result.problem)
    )


async def _follow(face: TerminalFace, job_id: str) -> None:
    """Poll the job until it ends, printing each change; Ctrl-C only stops watching. A start
    still being confirmed has a pending id until the provider's id replaces it."""
    click.echo("Following the job (Ctrl-C stops following; the job goes on).", err=True)
    last = None
    try:
        while True:
            job = await face.commands.job(job_id)
            if job is None:
                active = await face.commands.active_job_id()
                if not active or active == job_id:
                    return
                job_id = active
                continue
            line = job_line(job)
            if line != last:
                click.echo(line, err=True)
                last = line
            if job.is_finished:
                return
            await asyncio.sleep(FOLLOW_SECONDS)
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("Stopped following; `python -m bot finetune status` shows the job.", err=True)


def _as_data(result: object) -> object:
    dump = getattr(result, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if dataclasses.is_dataclass(result):
        return dataclasses.asdict(result)
    return str(result)
