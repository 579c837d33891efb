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

from openai import AsyncOpenAI, OpenAIError

from bot.config import Settings
from bot.errors import REDIS_DOWN
from bot.providers.registry import ModelRef
from bot.tokens import warm_up as load_encodings
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
    )
    _models()
    logger.info("warm-up: ready in %.0f ms", (time.monotonic() - started) * 1000)


# A configured model shutting down sooner than this is named at start, in one log line.
SHUTDOWN_NOTICE_DAYS = 60


async def _say_what_shuts_down(services: Services) -> None:
    """One log line at start naming each configured model that shuts down within 60 days:
    deployments that kept the defaults learn it before their users do."""
    settings, providers = services.settings, services.providers
    configured = [("CHAT_MODEL", providers.ref(settings.chat_model))]
    if providers.default_train:
        base = ModelRef(settings.finetune_base_model, providers.default_train)
        configured.append(("FINETUNE_BASE_MODEL", base))
    if settings.compare_judge_model:
        judge = providers.ref(settings.compare_judge_model, settings.compare_judge_provider)
        configured.append(("COMPARE_JUDGE_MODEL", judge))
    if settings.migration:
        configured.append(
            ("MIGRATION_TARGET", ModelRef(settings.migration[1], settings.migration[0]))
        )
    found = []
    for variable, ref in configured:
        day = await services.lifecycle.shutdown_of(ref)
        if day is not None and services.lifecycle.days_left(day) <= SHUTDOWN_NOTICE_DAYS:
            found.append(f"{variable} {ref.model} on {day.isoformat()}")
    if found:
        logger.warning(
            "configuration: these models shut down soon: %s; see the README's "
            '"After 2027-01-14" and `/finetune providers`',
            "; ".join(found),
        )


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
