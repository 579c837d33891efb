"""Entry point (`python -m bot`): the composition root. Builds everything, starts each front end
whose token is set (Slack, Discord, or both, sharing one dataset, model and job)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING

from bot.app import open_core
from bot.config import Settings, SettingsError, load_settings
from bot.runtime.warm_up import warm_encodings
from handlers.cli import build_cli

if TYPE_CHECKING:
    from bot.app import Services
    from bot.teams import Teams
    from handlers.serving import Bot
    from handlers.slack.install import SlackInstall

logger = logging.getLogger("bot")


def assemble(settings: Settings, *, discord: bool = True) -> Bot:
    # The front ends are imported here, not at the top: the terminal commands don't need them,
    # and Bolt, discord.py and their clients are a second of every command's start otherwise.
    from handlers.discord import build_discord_bot
    from handlers.discord.comparison import DiscordComparisonReporter
    from handlers.discord.reporter import DiscordJobReporter
    from handlers.serving import Bot
    from handlers.slack import build_slack_app
    from handlers.slack.comparison import SlackComparisonReporter
    from handlers.slack.reporter import SlackJobReporter
    from handlers.slack.team_client import team_client

    # The server loads the tokenizer before its first event, not during it.
    warm_encodings(settings)
    redis, services = open_core(settings)
    teams = open_teams(settings, services)
    slack = None
    install = slack_install(settings, services, teams) if settings.slack_oauth else None
    if settings.slack_enabled:
        slack = build_slack_app(teams, install)

        def add_slack_reporters(team: str, services: Services) -> None:
            client = team_client(slack, teams, install.store, team) if teams.many else slack.client
            interval = settings.job_status_update_seconds
            services.reporters.add("slack", SlackJobReporter(client, interval=interval))
            services.comparer.reporters.add("slack", SlackComparisonReporter(client))

        teams.on_team(add_slack_reporters)
    discord_bot = None
    if discord and settings.discord_enabled:
        discord_bot = build_discord_bot(teams)

        def add_discord_reporters(team: str, services: Services) -> None:
            services.reporters.add("discord", DiscordJobReporter(discord_bot))
            services.comparer.reporters.add("discord", DiscordComparisonReporter(discord_bot))

        teams.on_team(add_discord_reporters)
    return Bot(redis, services, teams, slack, discord_bot, install)


def open_teams(settings: Settings, services: Services) -> Teams:
    """TEAMS=many: each place its own team, found in the deployment's team directory."""
    from bot.teams import Teams
    from storage.keys import Keys
    from storage.teams import TeamDirectory

    keys = Keys(settings.redis_prefix)
    directory = TeamDirectory(services.redis, keys) if settings.many_teams else None
    return Teams(services, directory)


def slack_install(settings: Settings, services: Services, teams: Teams) -> SlackInstall:
    """Installing from a link: each workspace's token in Redis, encrypted; states taken once."""
    from handlers.slack.install import SlackInstall
    from storage.installations import RedisInstallationStore, token_cipher
    from storage.keys import Keys
    from storage.oauth_states import RedisOAuthStateStore

    keys = Keys(settings.redis_prefix)
    cipher = token_cipher(settings.token_encryption_key)
    most = settings.slack_max_workspaces if teams.many else 1
    store = RedisInstallationStore(services.redis, keys, cipher, max_workspaces=most)
    states = RedisOAuthStateStore(services.redis, keys, settings.slack_state_secret)
    return SlackInstall(settings, store, states, teams)


def run_server() -> None:
    from handlers.serving import serve
    from handlers.workers import Supervisor, worker_index

    # Until the event loop takes signals over, SIGTERM exits through Python's own clean-up, so
    # an embedded Redis started meanwhile is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    index = worker_index()
    worker = f" [{index}]" if index is not None else ""  # which of several copies logs
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s %(name)s{worker} %(message)s"
    )
    try:
        settings = load_settings()
        if settings.web_concurrency > 1 and index is None:
            sys.exit(Supervisor(settings).run())
        # Of several copies, only the first holds Discord's one gateway session.
        bot = assemble(settings, discord=index in (None, 0))
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(bot))


def main() -> None:
    # The command line: `serve` (the default) runs the server above; the rest are terminal tools.
    build_cli(run_server)()


if __name__ == "__main__":
    main()
