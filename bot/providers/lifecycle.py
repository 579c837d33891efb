"""When a model the bot uses shuts down, and what to say about it.

Two sources, the sooner wins: the model table's `retires` (of the model, or of the base a
fine-tune was built on: OpenAI switches the fine-tunes off with their base), and the
provider's own `shutdown_date` in `GET /models`, read at most every few hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date

from openai import AsyncOpenAI, OpenAIError

from bot.clock import Clock
from bot.dataset.tokens import base_model_of
from bot.providers.registry import ModelRef, ProviderError, Providers

logger = logging.getLogger(__name__)

LISTING_FRESH_SECONDS = 6 * 3600
LISTING_RETRY_SECONDS = 600  # after a provider did not answer
LISTING_TIMEOUT_SECONDS = 3.0


class Lifecycle:
    def __init__(self, providers: Providers, clock: Clock) -> None:
        self._providers = providers
        self._clock = clock
        # provider -> (fresh until, {model id: shutdown date})
        self._listings: dict[str, tuple[float, dict[str, date]]] = {}
        self._reading: dict[str, asyncio.Lock] = {}

    async def shutdown_of(self, ref: ModelRef) -> date | None:
        """The day `ref` stops answering, if anyone announced one."""
        days = [self._table_date(ref.model)]
        listed = await self._listing(ref.provider)
        days += [listed.get(ref.model), listed.get(base_model_of(ref.model))]
        known = [day for day in days if day is not None]
        return min(known) if known else None

    def _table_date(self, model: str) -> date | None:
        info = self._providers.table.lookup(model)
        return info.retires if info else None

    def days_left(self, day: date) -> int:
        return (day - self._clock.today()).days

    async def _listing(self, provider: str) -> dict[str, date]:
        good_until, dates = self._listings.get(provider, (0.0, {}))
        if time.monotonic() < good_until:
            return dates
        async with self._reading.setdefault(provider, asyncio.Lock()):
            good_until, dates = self._listings.get(provider, (0.0, {}))
            if time.monotonic() < good_until:
                return dates
            read = await self._read_listing(provider)
            fresh_for = LISTING_FRESH_SECONDS if read is not None else LISTING_RETRY_SECONDS
            # A provider that did not answer keeps what it said last time.
            self._listings[provider] = (time.monotonic() + fresh_for, read or dates)
            return read or dates

    async def _read_listing(self, provider: str) -> dict[str, date] | None:
        try:
            listed = await self.models_of(provider)
        except (OpenAIError, ProviderError) as error:
            logger.info(
                "lifecycle: %s did not list its models (%s)", provider, type(error).__name__
            )
            return None
        return {model: day for model, day in listed if day is not None}

    async def models_of(self, provider: str) -> list[tuple[str, date | None]]:
        """Every model the provider lists, with its shutdown date; raises ProviderError or
        OpenAIError when it can't be reached (the caller says so)."""
        client = self._providers.client(provider).with_options(
            timeout=LISTING_TIMEOUT_SECONDS, max_retries=0
        )
        models = await list_models(client)
        dates = {model: day for model, day in models if day}
        self._listings[provider] = (time.monotonic() + LISTING_FRESH_SECONDS, dates)
        return models


async def list_models(client: AsyncOpenAI) -> list[tuple[str, date | None]]:
    """`GET /models` as (id, shutdown date) pairs. Read raw: OpenAI and vLLM answer a page
    (`{"data": [...]}`), Together a bare list, which the SDK's page type can't hold."""
    body = await client.get("/models", cast_to=object)
    cards = body.get("data") if isinstance(body, dict) else body
    if not isinstance(cards, list):
        return []  # not a listing we know: no dates to read
    return [
        (str(card["id"]), _date(card.get("shutdown_date")))
        for card in cards
        if isinstance(card, dict) and card.get("id")
    ]


def _date(value: object) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def shutdown_sentence(ref: ModelRef, day: date, days_left: int, label: str) -> str:
    """`ft:…` on OpenAI shuts down on 2027-01-14 (38 days from now)."""
    when = (
        "today"
        if days_left == 0
        else "tomorrow"
        if days_left == 1
        else f"in {days_left} days"
        if days_left > 0
        else f"{-days_left} days ago"
    )
    verb = "shut down" if days_left < 0 else "shuts down"
    return f"`{ref.model}` on {label} {verb} on {day.isoformat()} ({when})"
