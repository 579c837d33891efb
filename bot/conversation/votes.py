"""Taking a reaction as a vote, the same on every front end.

A reaction is saved at once. When this process is saturated (its event loop running late, a
burst after an outage), it is journaled instead: one write now, applied by `VoteApplier` when
there is time, so nothing acknowledged is lost. A timeout while saturated is this process
running late, not Redis failing, so the vote (idempotent) is tried again. The answer is whether
it is in Redis: when it is not, the front end tells the person, each in its own way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.conversation.curation import Curation, Outcome
from bot.errors import REDIS_DOWN, StorageUnavailable, storage_cause
from bot.runtime.loop_lag import BUSY_LAG_SECONDS, LoopLag
from storage.schemas import MessageKey
from storage.vote_journal import JournaledVote, VoteJournal

logger = logging.getLogger(__name__)

TRIES = 3
# A vote arriving within this long of the loop running BUSY_LAG_SECONDS late is journaled.
BUSY_WITHIN_SECONDS = 1.0


class Votes:
    def __init__(
        self,
        curation: Curation,
        journal: VoteJournal,
        lag: LoopLag,
        on_journaled: Callable[[], None] = lambda: None,
    ) -> None:
        self._curation = curation
        self._journal = journal
        self._lag = lag
        self._on_journaled = on_journaled  # wakes whoever applies the journal (many teams)

    async def take(
        self, reply: MessageKey, user: str, judgement: str, added: bool, event_time: str
    ) -> bool:
        """Save (or journal) a reaction added or removed on a bot reply: `judgement` is "vote"
        or "veto". False when storage is unavailable and the vote is not in Redis."""
        if self._lag.saturated(within=BUSY_WITHIN_SECONDS, limit=BUSY_LAG_SECONDS):
            return await self._journaled(reply, user, judgement, added, event_time)
        for attempt in range(1, TRIES + 1):
            try:
                result = await self._curation.react(reply, user, judgement, added, event_time)
                break
            except StorageUnavailable as error:
                if attempt < TRIES and _timed_out(error) and self._lag.saturated():
                    continue
                logger.warning("votes: not saved, storage unavailable (%s)", storage_cause(error))
                return False
        if result.outcome is Outcome.NOT_A_TURN:
            logger.info("votes: a reaction on a message that is not a recorded reply")
        return True

    async def _journaled(
        self, reply: MessageKey, user: str, judgement: str, added: bool, event_time: str
    ) -> bool:
        vote = JournaledVote.of(reply, user, judgement, added, event_time)
        try:
            await self._journal.add(vote)
        except REDIS_DOWN as error:
            logger.warning("votes: not saved, storage unavailable (%s)", storage_cause(error))
            return False
        self._on_journaled()
        return True


def _timed_out(error: BaseException) -> bool:
    return isinstance(error.__cause__, TimeoutError | RedisTimeoutError)
