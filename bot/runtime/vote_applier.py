"""Applies the votes journaled while the bot was saturated (storage/vote_journal.py), a batch
at a time, whenever the event loop keeps up. Every process runs one."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from bot.conversation.curation import Curation
from bot.errors import REDIS_DOWN, StorageUnavailable
from bot.runtime.loop_lag import LoopLag
from storage.vote_journal import VoteJournal

logger = logging.getLogger(__name__)

BATCH = 50
BLOCK_MS = 1000  # under the 2 s a Redis command may take before it counts as failed
RETRY_SECONDS = 1.0
DRAIN_SECONDS = 5.0  # at most this long applying journaled votes at start


class JournalBell:
    """Which teams journaled a vote in this process since the appliers last looked: with many
    teams, one task applies them all (a blocking read per team would hold a Redis connection
    per team), woken by this."""

    def __init__(self) -> None:
        self._rung: set[str] = set()
        self.rung = asyncio.Event()

    def ring(self, team: str) -> None:
        self._rung.add(team)
        self.rung.set()

    def take(self) -> set[str]:
        rung, self._rung = self._rung, set()
        self.rung.clear()
        return rung


class VoteApplier:
    def __init__(self, journal: VoteJournal, curation: Curation, lag: LoopLag) -> None:
        self._journal = journal
        self._curation = curation
        self._lag = lag
        self._consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._opened = False

    async def run(self) -> None:
        opened = False
        while True:
            try:
                if not opened:
                    await self._journal.open()
                    opened = True
                await self._lag.calm.wait()
                await self.apply_some(block_ms=BLOCK_MS)
            except (*REDIS_DOWN, StorageUnavailable):
                # redis-py can turn a cancellation into a connection error: a stop must stop.
                if asyncio.current_task().cancelling():
                    raise asyncio.CancelledError from None
                # Whatever was taken stays pending and is claimed again later.
                await asyncio.sleep(RETRY_SECONDS)

    async def apply_waiting(self) -> int:
        """Apply what is journaled now (a batch at a time, while the loop keeps up), without
        waiting for more: how the one task of many teams serves each (`JournalBell`)."""
        if not self._opened:
            await self._journal.open()
            self._opened = True
        applied = 0
        while True:
            await self._lag.calm.wait()
            done = await self.apply_some()
            applied += done
            if done < BATCH:
                return applied

    async def drain(self, seconds: float = DRAIN_SECONDS) -> int:
        """Apply every journaled vote before the first event (a start after a crash): what a
        dead process took is claimed at once, not after CLAIM_IDLE_MS, so the dataset a person
        reads after a restart already holds every vote acknowledged before it. Applying one
        a live process holds too changes nothing (votes are idempotent). Bounded by `seconds`;
        the rest is applied as usual."""
        await self._journal.open()
        applied = 0
        deadline = asyncio.get_running_loop().time() + seconds
        while asyncio.get_running_loop().time() < deadline:
            done = await self.apply_some(claim_idle_ms=0)
            if not done:
                break
            applied += done
        return applied

    async def apply_some(self, block_ms: int = 0, claim_idle_ms: int | None = None) -> int:
        """Apply up to a batch of journaled votes; how many were applied."""
        taken = await self._journal.take(
            self._consumer, BATCH, block_ms, claim_idle_ms=claim_idle_ms
        )
        applied = []
        try:
            for entry_id, vote in taken:
                added = vote.added == "1"
                await self._curation.react(
                    vote.reply, vote.user, vote.judgement, added, vote.event_time
                )
                applied.append(entry_id)
        finally:
            if applied:
                await self._journal.done(applied)
        if applied:
            logger.info("votes: applied %d journaled votes", len(applied))
        return len(applied)
