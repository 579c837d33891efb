"""Entry point (`python -m bot`): the composition root. Builds everything, starts each front end
whose token is set (Slack, Discord, or both, sharing one dataset, model and job)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from bot.app import build_openai_client, build_services
from bot.config import Settings, SettingsError, load_settings
from bot.logs import redact_secrets
from bot.model_table import load_model_table
from bot.tokens import warm_up
from handlers.cli import build_cli
from handlers.discord import build_discord_bot
from handlers.serving import Bot, serve
from handlers.slack import build_slack_app
from handlers.slack.reporter import SlackJobReporter
from storage.connection import open_redis

logger = logging.getLogger("bot")


def assemble(settings: Settings) -> Bot:
    redact_secrets(settings.secrets)
    try:
        table = load_model_table(settings.model_table_file)
    except ValueError as error:
        raise SettingsError(f"MODEL_TABLE_FILE is invalid: {error}") from None
    warm_up([settings.chat_model, settings.finetune_base_model])
    redis = open_redis(settings.redis_url, settings.data_dir)
    services = build_services(settings, redis.client, build_openai_client(settings), table)
    slack = None
    if settings.slack_enabled:
        slack = build_slack_app(services)
        services.reporters.add("slack", SlackJobReporter(slack.client))
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
