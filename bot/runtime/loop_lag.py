"""How late the event loop runs. Everything the bot does shares one loop, so a wake-up that
comes late is time every request waited: a ticker asks to wake every few milliseconds and keeps
how late it woke over the last minute. `/healthz` reports it, the answer queue yields to it."""

from __future__ import annotations

import asyncio
import math
from collections import deque

TICK_SECONDS = 0.005
WINDOW_SECONDS = 60.0
# Late by more than this, the loop is saturated: work that can wait (an answer not started yet)
# holds back, so requests waiting for their ack come first.
BUSY_LAG_SECONDS = 0.02


class LoopLag:
    def __init__(self) -> None:
        self._samples: deque[tuple[float, float]] = deque()  # (when, lag in seconds)
        self.current = 0.0
        self.calm = asyncio.Event()  # set while the loop keeps up
        self.calm.set()
        self._busy_at = float("-inf")  # when a tick was last over BUSY_LAG_SECONDS late

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_SECONDS
            await asyncio.sleep(TICK_SECONDS)
            now = loop.time()
            self.current = max(0.0, now - due)
            if self.current > BUSY_LAG_SECONDS:
                self.calm.clear()
                self._busy_at = now
            else:
                self.calm.set()
            self._samples.append((now, self.current))
            while self._samples and self._samples[0][0] < now - WINDOW_SECONDS:
                self._samples.popleft()

    def saturated(self, within: float = 5.0, limit: float = 0.1) -> bool:
        """Whether the loop ran over `limit` seconds late in the last `within` seconds: then a
        timeout says more about this process than about the server it waited for."""
        horizon = asyncio.get_running_loop().time() - within
        if limit >= BUSY_LAG_SECONDS and self._busy_at < horizon:
            return False  # asked on every vote: no scan while the loop keeps up
        for when, lag in reversed(self._samples):
            if when < horizon:
                break
            if lag > limit:
                return True
        return False

    def summary(self) -> dict[str, float]:
        """The last minute's lag in milliseconds: p99, max and the latest."""
        lags = sorted(lag for _, lag in self._samples)
        if not lags:
            return {"p99_ms": 0.0, "max_ms": 0.0, "now_ms": 0.0}
        p99 = lags[min(len(lags) - 1, math.ceil(0.99 * len(lags)) - 1)]
        return {
            "p99_ms": round(p99 * 1000, 1),
            "max_ms": round(lags[-1] * 1000, 1),
            "now_ms": round(self.current * 1000, 1),
        }
