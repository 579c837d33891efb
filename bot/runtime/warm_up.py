"""Load what the first events would otherwise load, before the bot says it is ready.

The first vote after a start used to take half a second (the tokenizer loaded on the event
loop, every other request waiting), and the first mention ~140 ms (the OpenAI SDK's first
request). Here, before the port or the socket takes events: the tokenizer encodings of the
configured models, every Lua script in Redis's script cache, the pydantic models of the event
paths, and one request through the chat client, which also opens its connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from openai import APIStatusError, AsyncOpenAI, OpenAIError

from bot.config import Settings
from bot.dataset.tokens import warm_up as load_encodings
from bot.errors import REDIS_DOWN, StorageUnavailable
from storage import scripts
from storage.schemas import Example, Turn

if TYPE_CHECKING:
    from bot.app import Services

logger = logging.getLogger(__name__)

# The chat provider gets this long to answer the warm-up request; a provider that is down must
# not hold the start (chat says so when asked, as it always has).
MODEL_WARM_UP_SECONDS = 3.0


def warm_encodings(settings: Settings) -> None:
    load_encodings([settings.chat_model, settings.finetune_base_model])


async def warm_up(services: Services) -> None:
    started = time.monotonic()
    settings, providers = services.settings, services.providers
    chat = providers.client(providers.ref(settings.chat_model))
    await asyncio.gather(
        _scripts(services.redis),
        _chat_client(chat, settings.chat_model),
        _say_what_shuts_down(services),
        _journaled_votes(services),
    )
    _models()
    logger.info("warm-up: ready in %.0f ms", (time.monotonic() - started) * 1000)


async def _say_what_shuts_down(services: Services) -> None:
    """One log line at start naming each configured model that shuts down within 60 days:
    deployments that kept the defaults learn it before their users do."""
    soon = await services.migrations.configured_shutdowns()
    if soon:
        logger.warning(
            "configuration: these models shut down soon: %s; see the README's "
            '"After 2027-01-14" and `/finetune providers`',
            "; ".join(
                f"{variable} {ref.model} on {day.isoformat()}" for variable, ref, day in soon
            ),
        )


async def _journaled_votes(services: Services) -> None:
    """Votes a crashed process acknowledged but had not applied yet are applied before the
    first event, so nobody reads a dataset without them after a restart."""
    try:
        applied = await services.vote_applier.drain()
    except (*REDIS_DOWN, StorageUnavailable):
        logger.warning("warm-up: Redis unavailable; journaled votes are applied later")
        return
    if applied:
        logger.info("warm-up: applied %d votes journaled before the start", applied)


async def _scripts(redis) -> None:
    try:
        await scripts.load_all(redis)
    except REDIS_DOWN:
        logger.warning("warm-up: Redis unavailable; scripts load on first use")


async def _chat_client(openai: AsyncOpenAI, model: str) -> None:
    # Looking a model up is free and opens the connection a reply will reuse (an answer that
    # it is unknown does too: chat reports that when asked, as it always has).
    try:
        client = openai.with_options(timeout=MODEL_WARM_UP_SECONDS, max_retries=0)
        await client.models.retrieve(model)
    except APIStatusError as error:
        # It answered: some servers have no lookup by id, or don't know this model.
        logger.info(
            "warm-up: the chat provider answered HTTP %s to looking up %s (a reply says so "
            "if the model really is unknown)",
            error.status_code,
            model,
        )
    except OpenAIError as error:
        logger.info("warm-up: the chat provider did not answer (%s)", type(error).__name__)
    openai.chat.completions  # noqa: B018 (the SDK builds its resources on first access)


def _models() -> None:
    turn = Turn(
        team="T", channel="C", thread_ts="1", ts="1", user="U", model="m", messages=[], reply="r"
    )
    Turn.model_validate_json(turn.model_dump_json())
    example = Example.from_turn(turn)
    Example.model_validate_json(example.model_dump_json())
