"""Entry point (`python -m bot`): the composition root. Builds everything and starts Slack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from bot.app import build_openai_client, build_services
from bot.config import Settings, SettingsError, load_settings
from handlers.http import build_web_app
from handlers.slack import SlackIdentity, build_slack_app
from storage.connection import open_redis

logger = logging.getLogger("bot")


async def serve(settings: Settings) -> None:
    redis = open_redis(settings.redis_url, settings.data_dir)
    services = build_services(settings, redis.client, build_openai_client(settings))
    slack = build_slack_app(services)
    identity = SlackIdentity(slack)
    identity_task = asyncio.create_task(identity.resolve())
    try:
        if settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            logger.info("slack: socket mode")
            await AsyncSocketModeHandler(slack, settings.slack_app_token).start_async()
        else:

            async def is_ready() -> bool:
                return identity.bot_user_id is not None and await services.redis_ok()

            runner = web.AppRunner(build_web_app(slack, is_ready), access_log=None)
            await runner.setup()
            await web.TCPSite(runner, port=settings.port).start()
            logger.info("http: listening on port %d", settings.port)
            await _until_stopped()
    finally:
        identity_task.cancel()
        await redis.close()


async def _until_stopped() -> None:
    # A clean stop on SIGTERM (deploys, Procfile restarts) lets the embedded Redis flush and exit.
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    logger.info("stopping")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        sys.exit(2)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
