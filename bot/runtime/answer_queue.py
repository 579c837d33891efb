"""Answers wait their turn. A reply is seconds of model and platform calls; a burst of mentions
(or of slash commands) all started at once would each take slices of the one event loop, and
the acks Slack needs within 3 s (votes saved before theirs) would wait behind them. So a fixed
number of workers take the work after the ack first come, first served, and start more only
while the loop keeps up; the rest waits in the queue. Everything is answered, late if need be:
the work is told how long it waited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.runtime.loop_lag import LoopLag

logger = logging.getLogger(__name__)

Answer = Callable[[float], Awaitable[None]]  # called with the seconds it waited
# While the event loop is saturated, no more than this many answers are written at once.
BUSY_IN_PROGRESS = 2


class AnswerQueue:
    def __init__(self, workers: int, lag: LoopLag | None = None) -> None:
        self._size = workers
        self._lag = lag
        self._queue: asyncio.Queue[tuple[float, Answer] | None] = asyncio.Queue()
        self._workers: list[asyncio.Task] = []
        self._closed = False
        self.waiting = 0  # answers not started yet
        self.in_progress = 0

    def submit(self, answer: Answer) -> None:
        if self._closed:
            raise RuntimeError("the answer queue is closed")
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._size)]
        self._queue.put_nowait((asyncio.get_running_loop().time(), answer))
        self.waiting += 1

    def close(self) -> None:
        """No new answers; the workers finish the queued ones, then end (the stop's grace
        period bounds how long that may take)."""
        self._closed = True
        for _ in self._workers:
            self._queue.put_nowait(None)

    async def join(self) -> None:
        """Close, and wait until every queued answer is given."""
        self.close()
        await asyncio.gather(*self._workers)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self._queue.get()) is not None:
            # A saturated loop gets no new answer beyond the few always in progress: acks come
            # first, and answers still move on under a long overload.
            if self._lag and self.in_progress >= BUSY_IN_PROGRESS:
                await self._lag.calm.wait()
            self.waiting -= 1
            self.in_progress += 1
            queued_at, answer = item
            try:
                await answer(loop.time() - queued_at)
            except Exception:
                logger.exception("answers: an answer failed")
            finally:
                self.in_progress -= 1
