"""The `state` of a Slack install (slack_sdk.oauth's `AsyncOAuthStateStore`): what ties the
redirect Slack sends back to an install this deployment began.

A state is `nonce.expiry.signature`, signed with `SLACK_STATE_SECRET`: a forged or altered one
is refused before Redis is asked. Issuing one stores nothing (anyone may open the install page,
as often as they like); taking one marks its nonce used until it expires, so a redirect replayed
(from a browser's history, a proxy's log) installs nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

from redis.asyncio import Redis
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from storage.keys import Keys

logger = logging.getLogger(__name__)

STATE_SECONDS = 600  # from the install page to Slack's redirect: a person clicks "Allow"


class RedisOAuthStateStore(AsyncOAuthStateStore):
    def __init__(
        self, redis: Redis, keys: Keys, secret: str, *, lifetime: int = STATE_SECONDS
    ) -> None:
        self._redis = redis
        self._keys = keys
        self._secret = secret.encode()
        self._lifetime = lifetime

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def async_issue(self, *args, **kwargs) -> str:
        body = f"{secrets.token_urlsafe(16)}.{int(time.time()) + self._lifetime}"
        return f"{body}.{self._sign(body)}"

    async def async_consume(self, state: str) -> bool:
        nonce, _, rest = state.partition(".")
        expiry, _, signature = rest.partition(".")
        if not hmac.compare_digest(self._sign(f"{nonce}.{expiry}"), signature):
            logger.warning("slack: an install redirect with a state this bot did not sign")
            return False
        left = int(expiry) - time.time() if expiry.isdigit() else 0
        if left <= 0:
            logger.warning("slack: an install redirect whose state had expired")
            return False
        # Kept a minute past the expiry the state is signed with, which is what decides.
        used = self._keys.oauth_state(nonce)
        if not await self._redis.set(used, "1", nx=True, ex=int(left) + 60):
            logger.warning("slack: an install redirect whose state was used before (a replay)")
            return False
        return True

    def _sign(self, body: str) -> str:
        return hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
