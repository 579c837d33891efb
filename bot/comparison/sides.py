"""The two sides of a comparison: the model in use and the one put beside it (named, or the
newest other the bot knows), where each is served, and the system prompt each answers with."""

from __future__ import annotations

from bot.config import Settings
from bot.providers.registry import ModelRef, Providers
from bot.training.model_switch import ModelSwitcher
from storage.jobs import JobStore
from storage.models import ModelStore


class Sides:
    """Which models `Comparer` compares, and how each is asked."""

    def __init__(
        self,
        settings: Settings,
        providers: Providers,
        models: ModelStore,
        jobs: JobStore,
        switcher: ModelSwitcher,
    ) -> None:
        self._settings = settings
        self._providers = providers
        self._models = models
        self._jobs = jobs
        self._switcher = switcher

    async def current(self) -> tuple[ModelRef, str]:
        """The model in use, where it is served, and the system prompt it answers with."""
        swap = await self._models.active()
        if swap is None:
            return self._providers.ref(self._settings.chat_model), self._settings.system_prompt
        prompt = swap.system_prompt or self._settings.system_prompt
        return self._providers.ref(swap.model, swap.provider), prompt

    async def known_ref(self, model: str, provider: str | None) -> ModelRef:
        """`model` where it is served: as named, else as used before or as its job trained it,
        else on the default chat provider."""
        if provider is None:
            for swap in await self._models.history(limit=100):
                if swap.model == model:
                    return self._providers.ref(model, swap.provider)
            for job in await self._jobs.finished(limit=50):
                if job.fine_tuned_model == model:
                    return ModelRef(model, self._providers.serving(job.provider))
        return self._providers.ref(model, provider)

    async def is_known(self, ref: ModelRef) -> bool:
        """The configured model, or one used before or trained by a job, where it is served."""
        if ref == self._providers.ref(self._settings.chat_model):
            return True
        return await self._switcher.known(ref.model, ref.provider) is not None

    async def prompt_of(self, model: str) -> str:
        """The system prompt `model` is used with: the one its job trained with, if any."""
        for swap in await self._models.history(limit=100):
            if swap.model == model and swap.system_prompt:
                return swap.system_prompt
        for job in await self._jobs.finished(limit=50):
            if job.fine_tuned_model == model and job.system_prompt:
                return job.system_prompt
        return self._settings.system_prompt

    async def newest_other_model(self, current: ModelRef) -> ModelRef | None:
        """The newest tuned model not in use, else the model the one in use replaced."""
        for job in await self._jobs.finished(limit=50):
            if job.status == "succeeded" and job.fine_tuned_model:
                tuned = ModelRef(job.fine_tuned_model, self._providers.serving(job.provider))
                if tuned != current:
                    return tuned
        for swap in await self._models.history(limit=100):
            earlier = self._providers.ref(swap.model, swap.provider)
            if earlier != current:
                return earlier
        default = self._providers.ref(self._settings.chat_model)
        return default if default != current else None
