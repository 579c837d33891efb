"""Answering a person: one model call with the thread's history, recorded as a turn."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import openai
from openai import AsyncOpenAI

from bot.conversation.history import build_conversation
from bot.errors import REDIS_DOWN
from storage.models import ModelStore
from storage.schemas import Turn
from storage.turns import TurnStore

logger = logging.getLogger(__name__)

EMPTY_MESSAGE_HINT = "Ask me something after the mention, and I'll answer here in the thread."
MODEL_ERROR_APOLOGY = (
    "Sorry, I couldn't reach the language model just now. Please try again in a moment."
)


@dataclass(frozen=True)
class Incoming:
    """A message addressed to the bot, already stripped of platform markup."""

    platform: str
    team: str
    channel: str
    thread_ts: str
    user: str
    text: str


# Posts text in the thread and returns the platform's id (ts) of the posted message.
PostReply = Callable[[str], Awaitable[str]]


class ChatService:
    def __init__(
        self,
        client: AsyncOpenAI,
        turns: TurnStore,
        models: ModelStore,
        *,
        system_prompt: str,
        default_model: str,
        history_budget: int,
        max_message_chars: int,
    ) -> None:
        self._client = client
        self._turns = turns
        self._models = models
        self._system_prompt = system_prompt
        self._default_model = default_model
        self._budget = history_budget
        self._max_chars = max_message_chars

    async def reply_in_thread(self, message: Incoming, post: PostReply) -> Turn | None:
        """Answer in the thread; return the recorded turn (None if nothing was recorded)."""
        text = _valid_unicode(message.text).strip()
        if not _is_visible(text):
            await post(EMPTY_MESSAGE_HINT)
            return None
        if len(text) > self._max_chars:
            await post(
                f"That message is {len(text):,} characters; I can take up to "
                f"{self._max_chars:,}. Please shorten it or split it up."
            )
            return None

        # Both reads at once: with Redis hung, the reply waits for one storage timeout, not two.
        (model, system_prompt), previous = await asyncio.gather(
            self._current_model(), self._previous_turn(message)
        )
        history, refs = [], []
        if previous is not None:
            history = [*previous.messages[1:], {"role": "assistant", "content": previous.reply}]
            refs = [*previous.history_refs, previous.ref]
        conversation = build_conversation(
            system_prompt, history, refs, text, budget=self._budget, model=model
        )

        reply = await self._complete(model, conversation.messages)
        if reply is None:
            await post(MODEL_ERROR_APOLOGY)
            return None
        ts = await post(reply)
        turn = Turn(
            platform=message.platform,
            team=message.team,
            channel=message.channel,
            thread_ts=message.thread_ts,
            ts=ts,
            user=message.user,
            model=model,
            messages=conversation.messages,
            reply=reply,
            history_refs=conversation.history_refs,
        )
        try:
            await self._turns.record(turn)
        except REDIS_DOWN:
            logger.warning("chat: reply posted but not recorded, storage unavailable")
            return None
        return turn

    async def _current_model(self) -> tuple[str, str]:
        """The active model and its system prompt, read per request so swaps reach every process."""
        try:
            swap = await self._models.active()
        except REDIS_DOWN:
            logger.warning("chat: storage unavailable, using the configured model")
            swap = None
        if swap is None:
            return self._default_model, self._system_prompt
        return swap.model, swap.system_prompt or self._system_prompt

    async def _previous_turn(self, message: Incoming) -> Turn | None:
        try:
            return await self._turns.latest_in_thread(message.channel, message.thread_ts)
        except REDIS_DOWN:
            logger.warning("chat: storage unavailable, answering without thread history")
            return None

    async def _complete(self, model: str, messages: list[dict]) -> str | None:
        try:
            completion = await self._client.chat.completions.create(model=model, messages=messages)
            content = completion.choices[0].message.content
        except openai.OpenAIError as exc:
            logger.warning("chat: model call failed (%s)", type(exc).__name__)
            return None
        except (IndexError, AttributeError, TypeError, ValueError):
            logger.warning("chat: model returned a malformed response")
            return None
        if not content or not content.strip():
            logger.warning("chat: model returned an empty reply")
            return None
        return content


def _is_visible(text: str) -> bool:
    """False for text a person sees as empty: whitespace and format characters (zero-width
    spaces and joiners, BOM, direction marks) only. Sending that to the model costs money and
    gets an answer to nothing."""
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)


def _valid_unicode(text: str) -> str:
    """Lone surrogates (valid JSON escapes, invalid Unicode) become U+FFFD: they cannot be encoded
    as UTF-8, so the model call, Redis and the export would each fail on them."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
