"""`python -m bot dataset …`: the stored dataset and JSONL files, in and out."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from bot.commands.wording import plural
from bot.dataset import file_checks, importing, jsonl_lines
from bot.dataset.tempfiles import CHUNK_BYTES
from bot.training.model_table import ModelTable
from handlers.cli.render import report_lines
from handlers.cli.runtime import settings_or_exit, terminal


def _echo_json(value: object) -> None:
    click.echo(json.dumps(value, ensure_ascii=False, indent=2, default=str))


async def import_file(
    path: Path, skip_invalid: bool, model: str | None, redact: bool = True
) -> int:
    """`redact=False` (`--no-redact`) keeps a trusted file as it is; otherwise what people wrote
    is redacted like chat when REDACT_PII is on."""
    settings = settings_or_exit()
    async with terminal(settings) as face:
        target = model or settings.finetune_base_model
        _known_model(face.dataset.training_table(target), target)
        with _progress("Importing") as advance:
            try:
                report = await face.dataset.import_file(
                    path, target, skip_invalid=skip_invalid, progress=advance, redact=redact
                )
            except jsonl_lines.ImportRefused as refused:
                click.echo(str(refused), err=True)
                return 1
    for note in report.notes:
        click.echo(note, err=True)
    for problem in report.problems:
        click.echo(f"line {problem.line}: {problem.text}", err=True)
    if report.problems and not skip_invalid:
        has = "has" if len(report.problems) == 1 else "have"
        click.echo(
            f"Nothing was imported: {len(report.problems):,} of {plural(report.lines, 'line')} "
            f"{has} problems. Fix them, or pass --skip-invalid to import the rest."
        )
        return 1
    click.echo(
        f"Imported {plural(report.added, 'new example')}, updated {report.updated:,}, skipped "
        f"{report.duplicates:,} already stored and {report.skipped:,} invalid, from "
        f"{plural(report.lines, 'line')}."
    )
    click.echo(_redaction_line(report, redact, settings.redact_pii))
    return 0


def _redaction_line(report: importing.ImportReport, redact: bool, redact_pii: bool) -> str:
    if not redact:
        return "Not redacted: --no-redact keeps a trusted file exactly as it is."
    if not redact_pii:
        return "Not redacted: REDACT_PII is off."
    made = sum(report.redactions.values())
    if not made:
        return "Redacted like chat (REDACT_PII): nothing needed it."
    rules = ", ".join(f"{rule} {count}" for rule, count in sorted(report.redactions.items()))
    return f"Redacted like chat (REDACT_PII): {made} replaced ({rules})."


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr in a terminal; nothing when piped (scripts read stdout)."""
    if not sys.stderr.isatty():
        yield lambda done: None
        return
    with click.progressbar(length=None, label=label, file=sys.stderr, show_pos=True) as bar:
        yield bar.update


async def validate(path: Path | None, model: str | None, epochs: int | None, as_json: bool) -> int:
    settings = settings_or_exit()
    async with terminal(settings) as face:
        target = model or settings.finetune_base_model
        _known_model(face.dataset.training_table(target), target)
        if path is None:
            report = await face.dataset.validate(target, epochs)
            item = "example"
        else:
            notes: list[str] = []
            try:
                report, unreadable = await face.dataset.check_file(path, target, epochs, notes)
            except jsonl_lines.ImportRefused as refused:
                click.echo(str(refused), err=True)
                return 1
            for note in notes:
                click.echo(note, err=True)
            # The same words as `dataset import`: one message for one problem.
            for problem in unreadable.shown:
                click.echo(f"line {problem.line}: {problem.text}", err=as_json)
            if unreadable.more:
                more = plural(unreadable.more, "more such line")
                click.echo(f"… and {more}.", err=as_json)
            item = "line"
    if as_json:
        _echo_json(report.model_dump())
    else:
        # Unreadable lines were named above; the report counts them.
        shown = report.model_copy(
            update={
                "errors": {k: n for k, n in report.errors.items() if k != file_checks.UNREADABLE}
            }
        )
        for line in report_lines(shown, item):
            click.echo(line)
    return 0 if report.can_train else 1


def _known_model(table: ModelTable, model: str) -> None:
    if table.lookup(model) is None:
        raise click.BadParameter(
            f"{model} is not a model I can fine-tune: {', '.join(table.names())}.",
            param_hint="--model",
        )


async def export(output: Path | None, kind: str) -> int:
    settings = settings_or_exit()
    async with terminal(settings) as face:
        file = await face.dataset.export_file(kind)
    # Streamed from Redis to a temporary file, then copied from it a chunk at a time.
    with file:
        if output is None:
            with file.open() as source:
                shutil.copyfileobj(source, sys.stdout.buffer, CHUNK_BYTES)
            sys.stdout.flush()
        else:
            await asyncio.to_thread(shutil.copyfile, file.path, output)
            what = "preference pairs" if kind == "dpo" else "examples"
            click.echo(f"Wrote {file.lines:,} {what} to {output}.", err=True)
    return 0


async def stats(as_json: bool) -> int:
    settings = settings_or_exit()
    async with terminal(settings) as face:
        counts = await face.dataset.counts()
    if as_json:
        _echo_json(dataclasses.asdict(counts))
        return 0
    click.echo(
        f"{plural(counts.in_set, 'example')} in the training set, {counts.waiting:,} waiting "
        f"for votes, {counts.vetoed:,} vetoed, {plural(counts.pairs, 'preference pair')}, about "
        f"{counts.approx_tokens:,} tokens; {plural(counts.redactions, 'redaction')} made."
    )
    return 0


async def list_examples(limit: int, source: str | None, as_json: bool) -> int:
    settings = settings_or_exit()
    async with terminal(settings) as face:
        rows = [dataclasses.asdict(row) for row in await face.dataset.rows(limit, source)]
    if as_json:
        _echo_json(rows)
        return 0
    if not rows:
        what = f"from {source} " if source else ""
        click.echo(f"No examples {what}in the dataset yet.", err=True)
        return 0
    click.echo(f"{'ID':<32}  {'SOURCE':<6}  {'TOKENS':>6}  ASKED")
    for row in rows:
        click.echo(f"{row['id']:<32}  {row['source']:<6}  {row['tokens']:>6,}  {row['asked'][:60]}")
    return 0


async def show(example_id: str, as_json: bool) -> int:
    settings = settings_or_exit()
    async with terminal(settings) as face:
        example = await face.dataset.get(example_id)
    if example is None:
        click.echo(f"There is no example {example_id}; `dataset list` shows their ids.", err=True)
        return 1
    _echo_json(example.model_dump(mode="json") if as_json else {"messages": example.messages})
    return 0


async def remove(example_ids: tuple[str, ...], yes: bool) -> int:
    if not yes:
        if not sys.stdin.isatty():
            click.echo("Removing examples needs --yes when not run in a terminal.", err=True)
            return 1
        click.confirm(f"Remove {len(example_ids)} example(s) from the dataset?", abort=True)
    settings = settings_or_exit()
    async with terminal(settings) as face:
        removed = await face.dataset.remove(list(example_ids))
    unknown = sorted(set(example_ids) - set(removed))
    click.echo(f"Removed {len(removed)} example(s).")
    if unknown:
        click.echo(f"Not found: {', '.join(unknown)}.", err=True)
        return 1
    return 0
