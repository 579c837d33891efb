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
    from handlers.serving import Bot
    from handlers.slack.install import SlackInstall

logger = logging.getLogger("bot")


def assemble(settings: Settings, *, discord: bool = True) -> Bot:
    # The front ends are imported here, not at the top: the terminal commands don't need them,
    # and Bolt, discord.py and their clients are a second of every command's start otherwise.
    from bot.faces import ChatFace
    from handlers.discord import build_discord_bot
    from handlers.discord.comparison import DiscordComparisonReporter
    from handlers.discord.reporter import DiscordJobReporter
    from handlers.serving import Bot
    from handlers.slack import build_slack_app
    from handlers.slack.comparison import SlackComparisonReporter
    from handlers.slack.reporter import SlackJobReporter

    # The server loads the tokenizer before its first event, not during it.
    warm_encodings(settings)
    redis, services = open_core(settings)
    # Each front end gets the core's face; the reporters that speak through it are added here.
    face = ChatFace.of(services)
    slack = None
    install = slack_install(settings, services) if settings.slack_oauth else None
    if settings.slack_enabled:
        slack = build_slack_app(face, install)
        reporter = SlackJobReporter(slack.client, interval=settings.job_status_update_seconds)
        services.reporters.add("slack", reporter)
        services.comparer.reporters.add("slack", SlackComparisonReporter(slack.client))
    discord_bot = None
    if discord and settings.discord_enabled:
        discord_bot = build_discord_bot(face)
        services.reporters.add("discord", DiscordJobReporter(discord_bot))
        services.comparer.reporters.add("discord", DiscordComparisonReporter(discord_bot))
    return Bot(redis, services, slack, discord_bot, install)


def slack_install(settings: Settings, services: Services) -> SlackInstall:
    """Installing from a link: the workspace's token in Redis, encrypted; states taken once."""
    from handlers.slack.install import SlackInstall
    from storage.installations import RedisInstallationStore, token_cipher
    from storage.keys import Keys
    from storage.oauth_states import RedisOAuthStateStore

    keys = Keys(settings.redis_prefix)
    cipher = token_cipher(settings.token_encryption_key)
    store = RedisInstallationStore(services.redis, keys, cipher, one_workspace=True)
    states = RedisOAuthStateStore(services.redis, keys, settings.slack_state_secret)
    return SlackInstall(settings, store, states)


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
