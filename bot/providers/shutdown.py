"""A model its provider switched off: answer with the newest model in the history that still
serves, switch every process to it, and say once in the job channel what happened."""

from __future__ import annotations

import logging

import openai

from bot.clock import Clock
from bot.notices import Notices
from bot.providers.registry import ModelRef, ProviderError, Providers
from bot.training.model_switch import ModelSwitcher
from storage.models import ModelStore, ModelSwap

logger = logging.getLogger(__name__)

# What providers say about a model that is gone, besides a plain 404.
_GONE_WORDS = (
    "model_not_found",
    "shut down",
    "shutdown",
    "deprecated",
    "decommissioned",
    "no longer available",
    "no longer supported",
    "does not exist",
)
GONE_NOTICE_SECONDS = 30 * 86400  # said once; the model won't come back
NO_MODEL_LEFT = (
    "Sorry, the model I answer with was switched off by its provider, and none of the models I "
    "used before still answers. An admin can switch with `/finetune use <model> "
    "provider=<name>`; `/finetune providers` lists what each provider serves."
)


def is_gone(error: Exception) -> bool:
    """True when the provider says the model no longer exists (or is no longer configured)."""
    if isinstance(error, ProviderError | openai.NotFoundError):
        return True
    if isinstance(error, openai.APIStatusError) and error.status_code in (400, 403, 410):
        text = f"{error.code or ''} {error.message}".lower()
        return any(word in text for word in _GONE_WORDS)
    return False


class Fallback:
    def __init__(
        self,
        providers: Providers,
        models: ModelStore,
        switcher: ModelSwitcher,
        notices: Notices,
        clock: Clock,
        default_model: str,
    ) -> None:
        self._providers = providers
        self._models = models
        self._switcher = switcher
        self._notices = notices
        self._clock = clock
        self._default = default_model

    async def candidates(self, gone: ModelRef) -> list[tuple[ModelRef, ModelSwap | None]]:
        """Mark `gone`, and list what may answer instead: the history, newest first, then the
        configured CHAT_MODEL; never a model known to be gone or whose provider is not here."""
        logger.warning("chat: %s no longer answers; looking for the newest model that does", gone)
        await self._models.mark_gone(str(gone), self._clock.today())
        skip = await self._models.gone()
        found: list[tuple[ModelRef, ModelSwap | None]] = []
        entries = [*await self._models.history(limit=100), None]
        for swap in entries:
            model, provider = (swap.model, swap.provider) if swap else (self._default, None)
            ref = self._providers.ref(model, provider)
            usable = (
                ref.provider in self._providers.names and self._providers.get(ref.provider).chat
            )
            if str(ref) in skip or not usable or any(ref == seen for seen, _ in found):
                continue
            found.append((ref, swap))
        return found

    async def mark_gone(self, ref: ModelRef) -> None:
        await self._models.mark_gone(str(ref), self._clock.today())

    async def switch(self, gone: ModelRef, to: ModelRef, earlier: ModelSwap | None) -> None:
        """`to` answered in place of `gone`: every process uses it from now on."""
        await self._switcher.activate(
            ModelSwap(
                model=to.model,
                provider=to.provider,
                job_id=earlier.job_id if earlier else None,
                reason="shutdown",
                system_prompt=earlier.system_prompt if earlier else None,
            )
        )
        logger.warning("chat: switched from %s, which is gone, to %s", gone, to)
        await self._notices.say_once(
            f"gone:{gone}",
            f"`{gone.model}` stopped answering: {self._providers.label(gone.provider)} no longer "
            f"serves it. I now answer with `{to.model}` on {self._providers.label(to.provider)}, "
            "the newest model I used before that still works, so no message goes unanswered. "
            "To get a tuned model back, `/finetune migrate` retrains the dataset where "
            "MIGRATION_TARGET says, or `/finetune start provider=<name>` on any provider "
            "(`/finetune providers` lists them).",
            for_seconds=GONE_NOTICE_SECONDS,
        )
