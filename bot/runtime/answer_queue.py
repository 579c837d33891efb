"""Answers wait their turn. A reply is seconds of model and platform calls; a burst of mentions
(or of slash commands) all started at once would each take slices of the one event loop, and
the acks Slack needs within 3 s (votes saved before theirs) would wait behind them. So a fixed
number of workers take the work after the ack first come, first served, and start more only
while the loop keeps up; the rest waits in the queue. Everything is answered, late if need be:
the work is told how long it waited.

Teams take turns: each team's answers wait in their own lane, and the workers take from the
lanes in rotation, so one team's burst waits behind itself, not in front of every other team's
next answer."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict, deque
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
        # team -> its answers in the order they came; a lane with nothing waiting is removed
        self._lanes: OrderedDict[str, deque[tuple[float, Answer]]] = OrderedDict()
        self._items = asyncio.Semaphore(0)  # one per waiting answer, one per closing worker
        self._workers: list[asyncio.Task] = []
        self._closed = False
        self.waiting = 0  # answers not started yet
        self.in_progress = 0

    def lane(self, team: str) -> TeamAnswers:
        """What one team's front ends submit to."""
        return TeamAnswers(self, team)

    def submit(self, answer: Answer, team: str = "") -> None:
        if self._closed:
            raise RuntimeError("the answer queue is closed")
        if not self._workers:
            self._workers = [asyncio.create_task(self._work()) for _ in range(self._size)]
        lane = self._lanes.setdefault(team, deque())
        lane.append((asyncio.get_running_loop().time(), answer))
        self.waiting += 1
        self._items.release()

    def close(self) -> None:
        """No new answers; the workers finish the queued ones, then end (the stop's grace
        period bounds how long that may take)."""
        if not self._closed:
            self._closed = True
            for _ in self._workers:
                self._items.release()

    async def join(self) -> None:
        """Close, and wait until every queued answer is given."""
        self.close()
        await asyncio.gather(*self._workers)

    def _next(self) -> tuple[float, Answer] | None:
        """The first answer of the lane whose turn it is; that lane goes to the back."""
        if not self._lanes:
            return None  # closing
        team, lane = next(iter(self._lanes.items()))
        item = lane.popleft()
        if lane:
            self._lanes.move_to_end(team)
        else:
            del self._lanes[team]
        return item

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._items.acquire()
            if (item := self._next()) is None:
                return
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


class TeamAnswers:
    """One team's lane of the process' answer queue."""

    def __init__(self, queue: AnswerQueue, team: str) -> None:
        self.queue = queue
        self._team = team

    def submit(self, answer: Answer) -> None:
        self.queue.submit(answer, self._team)

    @property
    def waiting(self) -> int:
        return self.queue.waiting

    @property
    def in_progress(self) -> int:
        return self.queue.in_progress

    def close(self) -> None:
        self.queue.close()

    async def join(self) -> None:
        await self.queue.join()
