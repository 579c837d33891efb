"""Errors the core raises for adapters to turn into one calm sentence."""

from __future__ import annotations

import redis.exceptions


class StorageUnavailable(Exception):
    """Redis could not be reached; the action was not saved."""


# What redis-py raises when the server is down, restarting or too slow.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
