"""Feedback buttons: each person's latest 👍/👎 click on a bot reply.

Slack's click payload says which button was pressed, not what is selected, and there is no
"un-click": so the latest click per person and reply decides, and pressing the same button
again clears it. A click older than (or the same as) the last one seen changes nothing, so a
repeated delivery is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from storage import scripts
from storage.keys import Keys

NONE = "none"

# KEYS: the reply's clicks. ARGV: user, button, click time, ttl seconds.
# Returns {previous choice, new choice}, the new one "stale" for an old or repeated click.
_CLICK = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
local previous = 'none'
if current then
  local sep = string.find(current, '|', 1, true)
  previous = string.sub(current, 1, sep - 1)
  if tonumber(string.sub(current, sep + 1)) >= tonumber(ARGV[3]) then
    return {previous, 'stale'}
  end
end
local chosen = ARGV[2]
if previous == chosen then chosen = 'none' end
redis.call('HSET', KEYS[1], ARGV[1], chosen .. '|' .. ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return {previous, chosen}
"""


@dataclass(frozen=True)
class Click:
    previous: str  # "good", "bad" or "none"
    chosen: str  # the same, or "stale" when the click changed nothing


class FeedbackStore:
    def __init__(self, redis: Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds  # clicks matter only while their turn is recorded
        self._click = scripts.register(redis, _CLICK)

    async def click(self, ref: str, user: str, button: str, at: str) -> Click:
        previous, chosen = await self._click(
            keys=[self._keys.feedback(ref)], args=[user, button, at, self._ttl]
        )
        return Click(previous, chosen)

    async def first_vote(self, user: str) -> bool:
        """True the first time `user` votes with a button (they are told it counted)."""
        return bool(await self._redis.sadd(self._keys.feedback_voters, user))

    async def forget_voter(self, user: str, refs: list[str]) -> None:
        """Forget-me: their clicks on the replies `refs`, and that they ever voted by button."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for ref in refs:
                pipe.hdel(self._keys.feedback(ref), user)
            pipe.srem(self._keys.feedback_voters, user)
            await pipe.execute()

    async def delete(self, ref: str) -> None:
        await self._redis.delete(self._keys.feedback(ref))
