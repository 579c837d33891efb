"""Errors the core raises for adapters to turn into one calm sentence."""

from __future__ import annotations

import redis.exceptions


class StorageUnavailable(Exception):
    """Redis could not be reached; the action was not saved."""


class Refused(Exception):
    """The core won't do what was asked; `str()` says why in one sentence for the person."""


# What redis-py raises when the server is down, restarting or too slow; on Redis Cluster also
# while a slot's master is down and before its replica takes over.
REDIS_DOWN = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    OSError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.SlotNotCoveredError,
)


def storage_cause(error: BaseException) -> str:
    """What went wrong with Redis, for the log: the error's type and message (no data)."""
    cause = error.__cause__ or error
    return f"{type(cause).__name__}: {cause}"[:200]
