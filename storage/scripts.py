"""Every Lua script the stores run, so a start can load them all into Redis's script cache
before the first event (the first call of a script not cached costs a refused EVALSHA and a
SCRIPT LOAD, on the path of someone's vote)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.commands.core import AsyncScript

_SOURCES: set[str] = set()


def register(redis: Redis, source: str) -> AsyncScript:
    _SOURCES.add(source)
    return redis.register_script(source)


async def load_all(redis: Redis) -> None:
    for source in _SOURCES:
        await redis.script_load(source)
