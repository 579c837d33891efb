"""What a terminal command runs on: the same settings, Redis and core services as the bot
(`REDIS_URL`, or the embedded Redis under `DATA_DIR`), so the terminal and the chat front ends
see one dataset."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator

import click

from bot.app import Services, open_core
from bot.commands.results import Caller
from bot.config import Settings, SettingsError, load_settings
from bot.faces import TerminalFace
from bot.teams import team_settings
from storage.keys import DEFAULT_TEAM, Keys
from storage.teams import TeamDirectory

# The person at the terminal runs the bot: an admin, on the "local" platform.
OPERATOR = Caller(platform="local", user="operator", is_admin=True, channel="terminal")
# `--team`: the team a command works on (TEAMS=many); None: the first team.
chosen_team: str | None = None


class ConfigurationProblem(click.ClickException):
    """Said as the bot says it at start, without click's own "Error:" in front."""

    def show(self, file: object = None) -> None:
        click.echo(f"Configuration error: {self.format_message()}", err=True)


def settings_or_exit(*needs: str) -> Settings:
    """Settings for a terminal command, which needs no Slack or Discord token; `needs` names
    what else it must have ("chat": a chat model to call, "training": a training key)."""
    try:
        settings = load_settings(front_end_required=False)
        settings.require(*needs)
    except SettingsError as error:
        raise ConfigurationProblem(str(error)) from None
    if chosen_team and chosen_team != DEFAULT_TEAM:
        return team_settings(settings, chosen_team, None)
    return settings


def set_verbose() -> None:
    """`--verbose`: every log line, and a failure's details, on stderr."""
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(levelname)s %(message)s")
    for noisy in ("asyncio", "httpcore", "httpx", "openai", "urllib3", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.INFO)


@contextlib.asynccontextmanager
async def core(settings: Settings) -> AsyncIterator[Services]:
    # Logs go to stderr and stay at warnings (unless --verbose came first), so stdout carries
    # only what the bot says.
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(message)s"
    )
    try:
        redis, services = open_core(settings)
    except SettingsError as error:
        raise ConfigurationProblem(str(error)) from None
    try:
        await _check_team(services)
        yield services
    finally:
        await services.close()
        await redis.close()


async def _check_team(services: Services) -> None:
    """`--team` names a team this deployment has; anything else is said, not created."""
    if not chosen_team or chosen_team == DEFAULT_TEAM:
        return
    deployment = Keys(services.settings.redis_prefix.removesuffix(f".{chosen_team}"))
    if await TeamDirectory(services.redis, deployment).record(chosen_team) is None:
        raise ConfigurationProblem(
            f"There is no team `{chosen_team}`; `python -m bot teams` lists them."
        )


@contextlib.asynccontextmanager
async def terminal(settings: Settings) -> AsyncIterator[TerminalFace]:
    """The core as a terminal command sees it: commands and the dataset desk."""
    async with core(settings) as services:
        yield TerminalFace.of(services)
