"""Running the assembled bot: its front ends serve until SIGTERM or SIGINT, then stop in
order (no new events, in-flight work gets a grace period, clients and Redis close)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.app import Services
from bot.config import SettingsError
from bot.errors import REDIS_DOWN, StorageUnavailable
from bot.runtime.warm_up import warm_up
from bot.teams import Teams
from handlers.discord import DiscordBot, run_discord
from handlers.http import build_web_app
from handlers.slack import SlackIdentity, SlackSocket, share_connections
from handlers.slack.install import SlackInstall
from storage.connection import RedisHandle
from storage.keys import DEFAULT_TEAM

logger = logging.getLogger("bot")

# Once no new events come in, work already started (a reply being written, a vote being saved)
# gets this long to finish; then it is cancelled, so a stop never takes much longer.
IN_FLIGHT_GRACE_SECONDS = 5.0
# aiohttp's default is 128 waiting connections; the kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 4096


@dataclass
class Bot:
    redis: RedisHandle
    services: Services  # the first team's
    teams: Teams  # every team (TEAMS=one: the first only)
    slack: AsyncApp | None
    discord: DiscordBot | None
    install: SlackInstall | None = None  # installed from a link (SLACK_CLIENT_ID)

    async def prepare(self) -> None:
        """What must be known before the first event: an installed workspace's token (TEAMS=
        one), or every known team (TEAMS=many)."""
        if self.install:
            await self.install.load_token()
        if self.teams.many:
            installed = await self.install.installed_workspaces() if self.install else []
            await self.teams.start(installed)

    def web_app(self, is_ready) -> web.Application:
        return build_web_app(
            self.slack,
            is_ready,
            signing_secret=self.services.settings.slack_signing_secret,
            healthz_token=self.services.settings.healthz_token,
            openai_client=self.services.providers.client(),
            webhook_secret=self.services.settings.openai_webhook_secret,
            on_job_event=self.teams.check_job,
            load=self._load,
        )

    async def warm(self) -> None:
        """Load what the first events would, then keep start-up's objects (modules, classes,
        clients: 140k) out of the garbage collector's way: every full collection scanned them
        all, 170 ms of a stopped event loop each time."""
        await warm_up(self.services)
        gc.freeze()

    def _load(self) -> dict:
        """What /healthz tells about how busy the process is."""
        return {
            "pid": os.getpid(),
            "loop_lag": self.services.lag.summary(),
            "answers_waiting": self.services.answers.waiting,
        }


async def serve(bot: Bot) -> None:
    """Serve until SIGTERM or SIGINT, which stop every mode the same way. A refusal only the
    configuration can fix (Slack refused a token, PORT is taken) stops with one line, exit 2."""
    stopped = _stop_on_signals()
    try:
        try:
            await _run_front_ends(bot, stopped)
        finally:
            await bot.teams.close()
            await bot.redis.close()
    except SettingsError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


async def _run_front_ends(bot: Bot, stopped: asyncio.Event) -> None:
    settings = bot.services.settings
    # Installed from a link, the bot's identity comes with each workspace's events.
    identity = SlackIdentity(bot.slack) if bot.slack and not bot.install else None
    # Before the port or the socket takes the first event (a taken port is found after it).
    await bot.prepare()
    await bot.warm()
    runner = None
    if not settings.socket_mode:
        app = bot.web_app(_readiness(bot, identity))
        runner = await _listen(app, settings.port, shared=settings.web_concurrency > 1)
    # Set before this coroutine next yields, so before any event is handled.
    slack_session = share_connections(bot.slack) if bot.slack else None
    socket = SlackSocket(bot.slack, settings.slack_app_token) if settings.socket_mode else None
    teams = TeamBackground(bot.teams)
    lag = asyncio.create_task(bot.services.lag.run())
    # Until Slack answers these retry for as long as the bot runs; a refusal ends the bot.
    needed = []
    if socket:
        needed.append(asyncio.create_task(socket.connect()))
    if identity:
        needed.append(asyncio.create_task(identity.resolve()))
    lasting = []
    if bot.discord:
        lasting.append(asyncio.create_task(run_discord(bot.discord, settings.discord_token)))
    try:
        await _until_stopped(stopped, needed)
    finally:
        # No new events: Slack's endpoint and socket close, the watchers start no new poll.
        teams.stop_watching()
        if runner:
            await runner.cleanup()
        if socket:
            await socket.close()
        bot.services.answers.close()
        await _let_in_flight_work_finish(leave={*needed, *lasting, lag, *teams.lasting})
        if waiting := bot.services.answers.waiting:
            logger.warning("stopping: %d answers were never started", waiting)
        # Discord last: closing it is also what stops its events, and in-flight replies need it.
        if bot.discord:
            await bot.discord.close()
        for task in (*needed, *lasting, lag, *teams.lasting):
            task.cancel()
        # Bounded: a task that swallows its cancellation (redis-py can) must not hold the stop.
        background = asyncio.gather(
            *teams.watchers, *teams.lasting, lag, *needed, *lasting, return_exceptions=True
        )
        _, stuck = await asyncio.wait({background}, timeout=IN_FLIGHT_GRACE_SECONDS)
        if stuck:
            logger.warning("stopping: background tasks did not stop in time")
        if slack_session:
            await slack_session.close()


class TeamBackground:
    """Each team's watcher, started as the team is built (the known ones at start, a new one
    at its first event), and its journaled votes applied. With TEAMS=many one task applies
    every team's votes (a blocking read per team would hold a Redis connection per team), and
    teams uninstalled longer than UNINSTALL_GRACE_DAYS are removed, hourly."""

    SWEEP_SECONDS = 3600.0
    # Every team's journal is looked at this often, for what a process that died left there;
    # a vote journaled in this process is applied as soon as the loop keeps up.
    JOURNALS_SECONDS = 30.0

    def __init__(self, teams: Teams) -> None:
        self._teams = teams
        self._following: list[Services] = []
        self._stopping = asyncio.Event()
        self.watchers: list[asyncio.Task] = []
        self.lasting: list[asyncio.Task] = []  # cancelled at the stop, not waited for
        teams.on_team(self._start)
        if teams.many:
            self.lasting.append(asyncio.create_task(self._sweep()))
            self.lasting.append(asyncio.create_task(self._apply_votes()))

    def _start(self, team: str, services: Services) -> None:
        self._following.append(services)
        self.watchers.append(asyncio.create_task(self._watch(team, services)))
        if not self._teams.many:
            self.lasting.append(asyncio.create_task(services.vote_applier.run()))

    async def _apply_votes(self) -> None:
        bell = self._teams.default.runtime.journaled
        loop = asyncio.get_running_loop()
        everyone_at = 0.0  # every team's journal is looked at first thing
        while True:
            if loop.time() < everyone_at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(bell.rung.wait(), everyone_at - loop.time())
            rung = bell.take()
            everyone = loop.time() >= everyone_at
            if everyone:
                everyone_at = loop.time() + self.JOURNALS_SECONDS
            for services in list(self._following):
                if everyone or services.settings.redis_prefix in rung:
                    try:
                        await services.vote_applier.apply_waiting()
                    except (*REDIS_DOWN, StorageUnavailable):
                        bell.ring(services.settings.redis_prefix)  # tried again
                        await asyncio.sleep(1.0)

    async def _watch(self, team: str, services: Services) -> None:
        # Many teams' watchers would all tick in the same instant every JOB_POLL_SECONDS (and
        # at start): each starts at its own point of the interval, the first team's at once.
        if self._teams.many and team != DEFAULT_TEAM:
            delay = random.uniform(0, services.settings.job_poll_seconds)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            if self._stopping.is_set():
                return
        await services.watcher.run()

    def stop_watching(self) -> None:
        self._stopping.set()
        for services in self._following:
            services.watcher.stop()

    async def _sweep(self) -> None:
        while True:
            try:
                await self._teams.remove_uninstalled(time.time())
            except REDIS_DOWN:
                logger.warning("teams: uninstalled teams not swept (storage unreachable)")
            await asyncio.sleep(self.SWEEP_SECONDS)


def _stop_on_signals() -> asyncio.Event:
    # SIGTERM (deploys, Procfile restarts, `docker stop`) and SIGINT (Ctrl-C) alike.
    stopped = asyncio.Event()

    def stop(signum: signal.Signals) -> None:
        logger.info("stopping (%s)", signum.name)
        stopped.set()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    return stopped


async def _until_stopped(stopped: asyncio.Event, needed: list[asyncio.Task]) -> None:
    """Until a signal; a task the bot can't run without that fails raises its error here."""
    signalled = asyncio.create_task(stopped.wait())
    running = {signalled, *needed}
    try:
        while signalled in running:
            done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {signalled}:
                if task.exception():
                    raise task.exception()
    finally:
        signalled.cancel()


def _readiness(bot: Bot, identity: SlackIdentity | None) -> Callable[[], Awaitable[bool]]:
    async def is_ready() -> bool:
        slack_ready = identity is None or identity.bot_user_id is not None
        discord_ready = bot.discord is None or bot.discord.is_ready()
        return slack_ready and discord_ready and await bot.services.redis_ok()

    return is_ready


async def _listen(app: web.Application, port: int, *, shared: bool) -> web.AppRunner:
    # Requests in flight when the server stops get the grace period (aiohttp's default is 60 s).
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=IN_FLIGHT_GRACE_SECONDS)
    await runner.setup()
    try:
        # Shared: the other copies bind the same port and the kernel spreads connections.
        # A burst opens many connections at once: a deep backlog keeps them from being refused.
        site = web.TCPSite(runner, port=port, reuse_port=shared or None, backlog=LISTEN_BACKLOG)
        await site.start()
    except OSError as error:
        await runner.cleanup()
        if error.errno == errno.EADDRINUSE:
            raise SettingsError(f"PORT {port} is already in use; set PORT to a free port") from None
        reason = error.strerror or type(error).__name__
        message = f"PORT {port} can't be opened ({reason}); set PORT to a free port"
        raise SettingsError(message) from None
    logger.info("http: listening on port %d", port)
    return runner


async def _let_in_flight_work_finish(leave: set[asyncio.Task]) -> None:
    """Work that events started (Bolt's listeners, discord.py's handlers, a watcher poll) gets
    the grace period to finish; what still runs then is cancelled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + IN_FLIGHT_GRACE_SECONDS
    while in_flight := asyncio.all_tasks() - leave - {asyncio.current_task()}:
        if loop.time() >= deadline:
            logger.warning("stopping: cancelled %d unfinished tasks", len(in_flight))
            for task in in_flight:
                task.cancel()
            # A task that swallows its cancellation (redis-py can) must not hold the stop.
            await asyncio.wait(in_flight, timeout=1)
            return
        await asyncio.wait(in_flight, timeout=deadline - loop.time())
