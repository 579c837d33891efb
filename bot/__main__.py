"""Entry point (`python -m bot`): the composition root. Builds everything, starts each front end
whose token is set (Slack, Discord, or both, sharing one dataset, model and job)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from bot.app import open_core
from bot.config import Settings, SettingsError, load_settings
from bot.tokens import warm_up
from handlers.cli import build_cli
from handlers.discord import build_discord_bot
from handlers.serving import Bot, serve
from handlers.slack import build_slack_app
from handlers.slack.comparison import SlackComparisonReporter
from handlers.slack.reporter import SlackJobReporter

logger = logging.getLogger("bot")


def assemble(settings: Settings) -> Bot:
    # The server loads the tokenizer before its first event, not during it.
    warm_up([settings.chat_model, settings.finetune_base_model])
    redis, services = open_core(settings)
    slack = None
    if settings.slack_enabled:
        slack = build_slack_app(services)
        reporter = SlackJobReporter(slack.client, interval=settings.job_status_update_seconds)
        services.reporters.add("slack", reporter)
        services.comparer.reporters.add("slack", SlackComparisonReporter(slack.client))
    discord = build_discord_bot(services) if settings.discord_enabled else None
    return Bot(redis, services, slack, discord)


def run_server() -> None:
    # Until the event loop takes signals over, SIGTERM exits through Python's own clean-up, so
    # an embedded Redis started meanwhile is stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        bot = assemble(load_settings())
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
