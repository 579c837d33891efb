"""Limits on what model calls cost: CHAT_RATE_PER_MINUTE calls per person, and the day's
CHAT_BUDGET_DAILY (dollars at the model table's prices, or tokens).

`admit` is asked before a call a person causes (a mention, a DM, a comparison); `record` after
every call the bot pays for, whoever caused it (the gate and the judge too). Redis down: the
limits can't be counted, so calls go ahead (chat keeps answering without storage, as always).
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot.clock import Clock
from bot.config import Settings
from bot.dataset.tokens import count_messages, count_text
from bot.errors import REDIS_DOWN
from bot.training.model_table import ModelTable
from storage.notices import NoticeStore
from storage.spending import DaySpend, SpendStore

logger = logging.getLogger(__name__)

UNLIMITED_PLATFORMS = frozenset({"local"})  # the operator's own terminal: no rate limit
DAY_SECONDS = 86400


class Spending:
    def __init__(
        self,
        settings: Settings,
        store: SpendStore,
        notices: NoticeStore,
        table: ModelTable,
        clock: Clock,
    ) -> None:
        self._rate = settings.chat_rate_per_minute
        self._budget = settings.budget
        self._store = store
        self._notices = notices
        self._table = table
        self._clock = clock
        self._recording: set[asyncio.Task] = set()

    async def admit(self, platform: str, user: str) -> str | None:
        """None: `user` may cause one more model call now. Else why not, as the sentence to
        say; "" when it was said to them already (this minute, or today for the budget)."""
        person = f"{platform}:{user}"
        try:
            if await self._over_budget():
                day = self._today()
                first = await self._notices.first(f"budget:{person}:{day}", DAY_SECONDS)
                return self._budget_sentence() if first else ""
            if not self._rate or platform in UNLIMITED_PLATFORMS:
                return None
            minute = int(time.time() // 60)
            calls = await self._store.count_call(person, minute)
        except REDIS_DOWN:
            logger.warning("spending: storage unavailable, limits not counted")
            return None
        if calls <= self._rate:
            return None
        if calls == self._rate + 1:
            return (
                f"You've asked me {self._rate} times in the last minute, which is as often as I "
                "answer one person; give me a moment and ask again."
            )
        return ""

    def record_later(self, model: str, messages: list[dict], reply: str | None) -> None:
        """`record`, without making the answer wait for storage (a hung Redis would hold it
        for a whole timeout)."""
        task = asyncio.get_running_loop().create_task(self.record(model, messages, reply))
        self._recording.add(task)
        task.add_done_callback(self._recording.discard)

    async def record(self, model: str, messages: list[dict], reply: str | None) -> None:
        """Add one call's cost: tokens counted with tiktoken (streamed answers carry no
        usage), dollars where the model table prices the model."""
        prompt = count_messages(messages, model)
        answer = count_text(reply or "", model)
        prices = self._table.call_prices(model)
        usd = (prompt * prices[0] + answer * prices[1]) / 1e6 if prices else 0.0
        try:
            await self._store.add(self._today(), usd, prompt + answer)
        except REDIS_DOWN:
            logger.warning("spending: storage unavailable, a call's cost was not counted")

    async def today(self) -> DaySpend:
        return await self._store.day(self._today())

    async def line(self) -> str | None:
        """Today's spend for the status, with the budget when there is one."""
        try:
            spent = await self.today()
        except REDIS_DOWN:
            return None
        text = f"spent today: ${spent.usd:,.2f}, {spent.tokens:,} tokens"
        return f"{text} of the daily budget {self._cap()}" if self._budget else text

    async def _over_budget(self) -> bool:
        if self._budget is None:
            return False
        amount, unit = self._budget
        spent = await self.today()
        return (spent.usd if unit == "usd" else spent.tokens) >= amount

    def _budget_sentence(self) -> str:
        return (
            f"I've used today's budget for model calls ({self._cap()}, CHAT_BUDGET_DAILY), so I "
            "answer again tomorrow (UTC). An admin can raise the budget."
        )

    def _cap(self) -> str:
        amount, unit = self._budget or (0, "usd")
        return f"${amount:,.2f}" if unit == "usd" else f"{int(amount):,} tokens"

    def _today(self) -> str:
        return self._clock.today().isoformat()
