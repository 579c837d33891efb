"""Answering a person: one model call with the conversation's history, recorded as a turn."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import openai

from bot.conversation.history import build_conversation
from bot.conversation.redaction import Redactor
from bot.errors import REDIS_DOWN, StorageUnavailable
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.providers.shutdown import NO_MODEL_LEFT, Fallback, is_gone
from bot.spending import Spending
from storage.models import ModelStore, ModelSwap
from storage.schemas import MessageKey, Turn
from storage.turns import TurnStore

logger = logging.getLogger(__name__)

EMPTY_MESSAGE_HINT = "Ask me something after the mention, and I'll answer right here."
MODEL_ERROR_APOLOGY = (
    "Sorry, I couldn't reach the language model just now. Please try again in a moment."
)
# When the platform, not the model, failed mid-answer (a front end sends it if it still can).
ANSWER_FAILED_APOLOGY = "Sorry, I couldn't finish that answer. Please try again in a moment."
LATE_REPLY_NOTICE = "Sorry for the wait: a lot of messages came in at once. Answering now."


@dataclass(frozen=True)
class Incoming:
    """A message addressed to the bot, already stripped of platform markup.

    Which conversation it continues is the front end's to say: the turn it replies to
    (`reply_to`, a message id in `channel`), else the latest turn of `thread_ts` when
    `follows_thread` (Slack's thread, a Discord thread or DM), else none: a new conversation.
    """

    platform: str
    team: str
    channel: str
    thread_ts: str
    user: str
    text: str
    message_id: str = ""  # the person's message (deleting it removes what holds its text)
    reply_to: str | None = None
    follows_thread: bool = True


class ReplyTarget(Protocol):
    """Where the answer goes, as its front end shows it."""

    # True: the model's answer streams in and `show_partial` sees it grow.
    streams: bool

    async def show_partial(self, text: str) -> None:
        """The answer so far (only called when `streams`)."""

    async def post(self, text: str) -> list[str]:
        """Show the whole answer; return the ids of the messages it became, first one first."""

    async def say(self, text: str) -> None:
        """A note that is not an answer (a hint, a refusal); never recorded."""

    async def fail(self, apology: str) -> None:
        """End the answer with an apology: after what was shown so far, or on its own."""


class _Gone(Exception):
    """The model's provider no longer serves it (nothing of the answer was shown)."""


class ChatService:
    def __init__(
        self,
        providers: Providers,
        turns: TurnStore,
        models: ModelStore,
        *,
        system_prompt: Callable[[], str],  # read per answer: a team's admins can change it
        default_model: str,
        history_budget: int,
        max_message_chars: int,
        redactor: Redactor | None = None,
        fallback: Fallback | None = None,
        spending: Spending | None = None,
        on_recorded: Callable[[MessageKey], Awaitable[None]] | None = None,
    ) -> None:
        self._on_recorded = on_recorded  # reactions made while the answer streamed
        self._redactor = redactor
        self._providers = providers
        self._fallback = fallback
        self._spending = spending
        self._turns = turns
        self._models = models
        self._system_prompt = system_prompt
        self._default_model = default_model
        self._budget = history_budget
        self._max_chars = max_message_chars

    async def reply(self, message: Incoming, target: ReplyTarget) -> Turn | None:
        """Answer the message; return the recorded turn (None if nothing was recorded)."""
        text = _valid_unicode(message.text).strip()
        if not _is_visible(text):
            await target.say(EMPTY_MESSAGE_HINT)
            return None
        if len(text) > self._max_chars:
            await target.say(
                f"That message is {len(text):,} characters; I can take up to "
                f"{self._max_chars:,}. Please shorten it or split it up."
            )
            return None

        if self._spending is not None:
            refusal = await self._spending.admit(message.platform, message.user)
            if refusal is not None:
                if refusal:
                    await target.say(refusal)
                return None

        # Both reads at once: with Redis hung, the reply waits for one storage timeout, not two.
        (ref, system_prompt), previous = await asyncio.gather(
            self._current_model(), self._previous_turn(message)
        )
        history, refs = [], []
        if previous is not None:
            history = [*previous.messages[1:], {"role": "assistant", "content": previous.reply}]
            refs = [*previous.history_refs, previous.ref]
        conversation = build_conversation(
            system_prompt, history, refs, text, budget=self._budget, model=ref.model
        )

        try:
            reply = await self._answer(ref, conversation.messages, target)
        except _Gone:
            reply, ref = await self._answer_instead(ref, conversation.messages, target)
        if reply is None:
            await target.fail(MODEL_ERROR_APOLOGY if ref else NO_MODEL_LEFT)
            return None
        ids = await target.post(reply)
        # What is stored is redacted (the model answered the message as typed); history built
        # from it later, examples and every export are too.
        people = dict(previous.placeholders) if previous else {}
        stored, redactions = self._redacted(conversation.messages, reply, people)
        turn = _new_turn(
            message, previous, ref.model, stored, conversation.history_refs, ids, people
        )
        try:
            await self._turns.record(turn, redactions=redactions)
            if self._on_recorded is not None:
                for part in [turn.ts, *turn.part_ids]:
                    await self._on_recorded(MessageKey(turn.platform, turn.channel, part))
        except REDIS_DOWN:
            logger.warning("chat: reply posted but not recorded, storage unavailable")
            return None
        except StorageUnavailable:
            logger.warning("chat: reactions made while the answer streamed were not applied")
        return turn

    def _redacted(
        self, messages: list[dict], reply: str, people: dict[str, str]
    ) -> tuple[list[dict], int]:
        """The new message and the reply, redacted (earlier history was redacted when stored),
        with the number of redactions made."""
        new = [messages[-1], {"role": "assistant", "content": reply}]
        if self._redactor is None:
            return [*messages[:-1], *new], 0
        count = 0
        for message in new:
            redacted = self._redactor.redact(message["content"], people)
            message["content"] = redacted.text
            count += sum(redacted.counts.values())
        return [*messages[:-1], *new], count

    async def _current_model(self) -> tuple[ModelRef, str]:
        """The active model and its system prompt, read per request so swaps reach every process."""
        try:
            swap = await self._models.active()
        except REDIS_DOWN:
            logger.warning("chat: storage unavailable, using the configured model")
            swap = None
        if swap is None:
            return self._providers.ref(self._default_model), self._system_prompt()
        return self._providers.ref(swap.model, swap.provider), self._prompt_of(swap)

    def _prompt_of(self, swap: ModelSwap | None) -> str:
        return (swap.system_prompt if swap else None) or self._system_prompt()

    async def _answer_instead(
        self, gone: ModelRef, messages: list[dict], target: ReplyTarget
    ) -> tuple[str | None, ModelRef | None]:
        """The active model is gone: answer with the newest earlier model that still serves,
        and make it the active one. (None, None) when none does."""
        if self._fallback is None:
            return None, None
        try:
            candidates = await self._fallback.candidates(gone)
        except REDIS_DOWN:
            logger.warning("chat: storage unavailable, can't look for a model to answer instead")
            return None, gone
        for ref, swap in candidates:
            # The same conversation, under the system prompt that model is used with.
            own = [{"role": "system", "content": self._prompt_of(swap)}, *messages[1:]]
            try:
                reply = await self._answer(ref, own, target)
            except _Gone:
                await self._fallback.mark_gone(ref)
                continue
            if reply is not None:
                messages[:] = own
                with contextlib.suppress(*REDIS_DOWN):
                    await self._fallback.switch(gone, ref, swap)
            return reply, ref
        return None, None

    async def _previous_turn(self, message: Incoming) -> Turn | None:
        def key(message_id: str) -> MessageKey:
            return MessageKey(message.platform, message.channel, message_id)

        try:
            if message.reply_to:
                turn = await self._turns.get(key(message.reply_to))
                if turn is not None:
                    return turn
            if message.follows_thread:
                return await self._turns.latest_in_thread(key(message.thread_ts))
            return None
        except REDIS_DOWN:
            logger.warning("chat: storage unavailable, answering without thread history")
            return None

    async def _answer(self, ref: ModelRef, messages: list[dict], target: ReplyTarget) -> str | None:
        """The model's answer (streamed into `target` if it streams); None if the call failed.
        Raises _Gone when the provider no longer serves the model, before anything was shown."""
        options = self._providers.answer_options(ref)
        try:
            client = self._providers.client(ref)
            if target.streams:
                content = await self._stream(client, ref.model, messages, target, options)
            else:
                completion = await client.chat.completions.create(
                    model=ref.model, messages=messages, **options
                )
                content = completion.choices[0].message.content
        except (openai.OpenAIError, ProviderError) as exc:
            if is_gone(exc):
                raise _Gone from exc
            logger.warning("chat: model call failed (%s)", type(exc).__name__)
            return None
        except (IndexError, AttributeError, TypeError, ValueError):
            logger.warning("chat: model returned a malformed response")
            return None
        if self._spending is not None:
            self._spending.record_later(ref.model, messages, content)
        if not content or not content.strip():
            logger.warning("chat: model returned an empty reply")
            return None
        return content

    async def _stream(
        self, client, model: str, messages: list[dict], target: ReplyTarget, options: dict
    ) -> str:
        text = ""
        stream = await client.chat.completions.create(
            model=model, messages=messages, stream=True, **options
        )
        # A gone model is refused when the stream is created (HTTP 404), before any text; an
        # error inside a started stream is never one a second model could make good.
        async for chunk in stream:
            delta = chunk.choices[0].delta.content if chunk.choices else None
            if delta:
                text += delta
                await target.show_partial(text)
        return text


def _new_turn(
    message: Incoming,
    previous: Turn | None,
    model: str,
    stored: list[dict],
    history_refs: list[str],
    ids: list[str],
    people: dict[str, str],
) -> Turn:
    """The turn to record: what was stored (redacted), where the reply was posted (`ids`, the
    first naming the turn), and the provenance carried on from the conversation so far."""
    first, *parts = ids
    here = [MessageKey(message.platform, message.channel, i) for i in (message.message_id, first)]
    earlier_refs = previous.provenance_refs if previous else []
    earlier_people = (previous.people or [previous.user]) if previous else []
    return Turn(
        platform=message.platform,
        team=message.team,
        channel=message.channel,
        thread_ts=previous.thread_ts if previous else message.thread_ts,
        ts=first,
        part_ids=parts,
        user=message.user,
        model=model,
        messages=stored[:-1],
        reply=stored[-1]["content"],
        history_refs=history_refs,
        asked=message.message_id,
        message_refs=list(dict.fromkeys([*earlier_refs, *(key.ref for key in here if key.id)])),
        people=list(dict.fromkeys([*earlier_people, message.user])),
        placeholders=people,
    )


def _is_visible(text: str) -> bool:
    """False for text a person sees as empty: whitespace and format characters (zero-width
    spaces and joiners, BOM, direction marks) only. Sending that to the model costs money and
    gets an answer to nothing."""
    return any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text)


def _valid_unicode(text: str) -> str:
    """Lone surrogates (valid JSON escapes, invalid Unicode) become U+FFFD: they cannot be encoded
    as UTF-8, so the model call, Redis and the export would each fail on them."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
