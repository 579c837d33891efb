"""`python -m bot teams`: the operator's view of every team on the deployment (TEAMS=many), and
the removal of one with everything it kept."""

from __future__ import annotations

import contextlib
import datetime
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass

import click

from bot.teams import Teams
from handlers.cli.runtime import ConfigurationProblem, core, settings_or_exit
from storage.keys import DEFAULT_TEAM, Keys
from storage.teams import TeamDirectory


@dataclass(frozen=True)
class TeamRow:
    team: str
    places: list[str]
    examples: int
    model: str  # the active model, or the configured one
    job: str  # the active job's id, or ""
    spent_this_month: float
    last_active: str  # UTC, to the minute; "" if never heard from
    uninstalled: bool


async def list_teams(as_json: bool) -> int:
    async with _teams() as teams:
        rows = await _rows(teams)
    if as_json:
        click.echo(json.dumps([asdict(row) for row in rows], indent=2))
        return 0
    if not rows:
        click.echo(
            "No teams yet: each Slack workspace and Discord server becomes one when heard from."
        )
        return 0
    for row in rows:
        places = ", ".join(row.places) or "no place"
        job = f", job {row.job}" if row.job else ""
        gone = ", uninstalled" if row.uninstalled else ""
        active = row.last_active or "never"
        click.echo(
            f"{row.team}: {places}; {row.examples} examples, model {row.model}{job}; "
            f"${row.spent_this_month:,.2f} this month; last active {active}{gone}"
        )
    return 0


async def remove_team(team: str, yes: bool) -> int:
    if team == DEFAULT_TEAM:
        click.echo(
            "The first team keeps the deployment's own keys and stays; `dataset remove` and "
            "`forget` take its data.",
            err=True,
        )
        return 1
    async with _teams() as teams:
        if await teams.directory.record(team) is None:
            click.echo(f"There is no team `{team}`; `python -m bot teams` lists them.", err=True)
            return 1
        places = await teams.directory.places_of(team)
        if not yes:
            where = ", ".join(places) or "no place"
            click.confirm(
                f"Remove team {team} ({where}) with its dataset, models' history and jobs?",
                abort=True,
            )
        removed = await teams.remove(team)
    click.echo(f"Removed team {team}: {removed} keys.")
    return 0


@contextlib.asynccontextmanager
async def _teams() -> AsyncIterator[Teams]:
    """The deployment's teams, as the server sees them (TEAMS=many)."""
    settings = settings_or_exit()
    if not settings.many_teams:
        raise ConfigurationProblem(
            "This deployment is one team (TEAMS=one); `teams` is for TEAMS=many."
        )
    async with core(settings) as services:
        yield Teams(services, TeamDirectory(services.redis, Keys(settings.redis_prefix)))


async def _rows(teams: Teams) -> list[TeamRow]:
    directory = teams.directory
    places = await directory.places()
    activity = await directory.activity()
    records = await directory.records()
    teams.build(records)
    built = teams.built
    rows = []
    for record in records:
        services = built[record.id]
        active = await services.models.active()
        heard = activity.get(record.id)
        rows.append(
            TeamRow(
                team=record.id,
                places=sorted(place for place, team in places.items() if team == record.id),
                examples=(await services.examples.stats()).examples,
                model=active.model if active else services.settings.chat_model,
                job=await services.jobs.active_job_id() or "",
                spent_this_month=round(await services.ledger.spent(), 2),
                last_active=_minute(heard) if heard else "",
                uninstalled=record.uninstalled_at is not None,
            )
        )
    return rows


def _minute(when: float) -> str:
    return datetime.datetime.fromtimestamp(when, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
