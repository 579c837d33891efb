"""Both models answering one conversation, and the judge model's verdict on the pair. Each call
goes where its model is served and is counted as spending; a failure becomes a sentence on its
side, never an exception."""

from __future__ import annotations

import asyncio
import logging
import random
import time

import openai

from bot.comparison.views import transcript, with_system_prompt
from bot.config import Settings
from bot.dataset.tokens import count_messages
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.spending import Spending
from storage.comparisons import Answer, ComparedPair, Comparison, Conversation, Pick

logger = logging.getLogger(__name__)

JUDGE_INSTRUCTIONS = (
    "You compare two answers an assistant could give. Judge which one follows the assistant's "
    "instructions better and answers the user better. Reply with exactly one word: A, B or Same."
)


class PairAnswerer:
    """Makes the pairs of a comparison, one conversation at a time, for `Comparer`."""

    def __init__(self, settings: Settings, providers: Providers, spending: Spending) -> None:
        self._settings = settings
        self._providers = providers
        self._spending = spending

    async def answer_pair(
        self, comparison: Comparison, conversation: Conversation, number: int
    ) -> ComparedPair:
        """Pair `number` of `comparison`: both answers, labelled A and B in a random order."""
        candidate_ref, current_ref = _refs(comparison, self._providers)
        candidate, current = await asyncio.gather(
            self._ask(candidate_ref, comparison.candidate_prompt, conversation),
            self._ask(current_ref, comparison.current_prompt, conversation),
        )
        pair = ComparedPair(
            id=f"{comparison.id}-{number}",
            comparison_id=comparison.id,
            conversation=conversation,
            candidate_is_a=random.random() < 0.5,
            candidate=candidate,
            current=current,
        )
        if self._settings.compare_judge_model and not pair.failed:
            pair.judge = await self._judge(comparison, pair)
        return pair

    async def _ask(self, ref: ModelRef, prompt: str, conversation: Conversation) -> Answer:
        model = ref.model
        messages = with_system_prompt(conversation.messages, prompt)
        started = time.monotonic()
        try:
            completion = await self._providers.client(ref).chat.completions.create(
                model=model, messages=messages, **self._providers.answer_options(ref)
            )
            text = completion.choices[0].message.content
            self._paid(model, messages, text)
        except (openai.OpenAIError, ProviderError) as error:
            logger.warning("compare: %s failed (%s)", ref, type(error).__name__)
            return Answer(model=model, error=_failure(error))
        except (IndexError, AttributeError):
            return Answer(model=model, error="The model's answer was malformed.")
        latency = int((time.monotonic() - started) * 1000)
        usage = getattr(completion, "usage", None)
        tokens = usage.prompt_tokens if usage else count_messages(messages, model)
        if not text or not text.strip():
            return Answer(model=model, error="The model answered nothing.", latency_ms=latency)
        return Answer(model=model, text=text, prompt_tokens=tokens, latency_ms=latency)

    async def _judge(self, comparison: Comparison, pair: ComparedPair) -> Pick | None:
        a, b = (
            (pair.candidate, pair.current)
            if pair.candidate_is_a
            else (pair.current, pair.candidate)
        )
        question = "\n\n".join(
            [
                f"The assistant's instructions:\n{comparison.current_prompt}",
                f"The conversation:\n{transcript(pair.conversation.messages)}",
                f"Answer A:\n{a.text}",
                f"Answer B:\n{b.text}",
            ]
        )
        judge = self._providers.ref(
            self._settings.compare_judge_model or "", self._settings.compare_judge_provider
        )
        messages = [
            {"role": "system", "content": JUDGE_INSTRUCTIONS},
            {"role": "user", "content": question},
        ]
        try:
            completion = await self._providers.client(judge).chat.completions.create(
                model=judge.model, messages=messages, **self._providers.answer_options(judge)
            )
            verdict = (completion.choices[0].message.content or "").strip().lower()
            self._paid(judge.model, messages, verdict)
        except (openai.OpenAIError, ProviderError, IndexError, AttributeError):
            logger.warning("compare: the judge model failed")
            return None
        word = verdict.split()[0].strip(".:*") if verdict else ""
        return {"a": "a", "b": "b", "same": "same"}.get(word)

    def _paid(self, model: str, messages: list[dict], answer: str | None) -> None:
        self._spending.record_later(model, messages, answer)


def _refs(comparison: Comparison, providers: Providers) -> tuple[ModelRef, ModelRef]:
    """(candidate, current), each where it is served."""
    return (
        providers.ref(comparison.candidate_model, comparison.candidate_provider),
        providers.ref(comparison.current_model, comparison.current_provider),
    )


def _failure(error: Exception) -> str:
    if isinstance(error, ProviderError):
        return str(error)
    if isinstance(error, openai.NotFoundError):
        return "The model was not found."
    if isinstance(error, openai.APIStatusError):
        return f"The model's server answered HTTP {error.status_code}."
    return "The model could not be reached."
