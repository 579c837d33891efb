"""Entry point (`python -m bot`): the composition root. Builds everything, starts each front end
whose token is set (Slack, Discord, or both, sharing one dataset, model and job)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import Services, build_openai_client, build_services
from bot.config import Settings, SettingsError, load_settings
from bot.logs import redact_secrets
from bot.model_table import load_model_table
from bot.tokens import warm_up
from handlers.cli import build_cli
from handlers.discord import DiscordBot, build_discord_bot, run_discord
from handlers.http import build_web_app
from handlers.slack import SlackIdentity, build_slack_app, build_web_client
from handlers.slack.reporter import SlackJobReporter
from storage.connection import RedisHandle, open_redis

logger = logging.getLogger("bot")


@dataclass
class Bot:
    redis: RedisHandle
    services: Services
    slack: AsyncApp | None
    discord: DiscordBot | None

    def web_app(self, is_ready) -> web.Application:
        return build_web_app(
            self.slack,
            is_ready,
            openai_client=self.services.openai,
            webhook_secret=self.services.settings.openai_webhook_secret,
            on_job_event=self.services.watcher.check,
        )


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
        slack_client = build_web_client(settings)
        services.reporters.add("slack", SlackJobReporter(slack_client))
        slack = build_slack_app(services, slack_client)
    discord = build_discord_bot(services) if settings.discord_enabled else None
    return Bot(redis, services, slack, discord)


async def serve(bot: Bot) -> None:
    settings = bot.services.settings
    identity = SlackIdentity(bot.slack) if bot.slack else None
    background = [asyncio.create_task(bot.services.watcher.run())]
    if identity:
        background.append(asyncio.create_task(identity.resolve()))
    if bot.discord:
        background.append(asyncio.create_task(run_discord(bot.discord, settings.discord_token)))
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            logger.info("slack: socket mode")
            await AsyncSocketModeHandler(bot.slack, settings.slack_app_token).start_async()
        else:

            async def is_ready() -> bool:
                slack_ready = identity is None or identity.bot_user_id is not None
                discord_ready = bot.discord is None or bot.discord.is_ready()
                return slack_ready and discord_ready and await bot.services.redis_ok()

            runner = web.AppRunner(bot.web_app(is_ready), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, port=settings.port).start()
            logger.info("http: listening on port %d", settings.port)
            await _until_stopped()
    finally:
        bot.services.watcher.stop()
        if bot.discord:
            await bot.discord.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await bot.redis.close()


async def _until_stopped() -> None:
    # A clean stop on SIGTERM (deploys, Procfile restarts) lets the embedded Redis flush and exit.
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    logger.info("stopping")


def run_server() -> None:
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
