"""Switching the model by hand: `/finetune use <model>` and `/finetune rollback`."""

from __future__ import annotations

import openai
from openai import AsyncOpenAI

from bot.model_table import ModelTable
from storage.jobs import JobStore
from storage.models import ModelStore, ModelSwap


class ModelSwitcher:
    def __init__(
        self,
        client: AsyncOpenAI,
        models: ModelStore,
        jobs: JobStore,
        table: ModelTable,
        default_model: str,
    ) -> None:
        self._client = client
        self._models = models
        self._jobs = jobs
        self._table = table
        self._default = default_model

    async def current(self) -> str:
        swap = await self._models.active()
        return swap.model if swap else self._default

    async def use(self, model: str, user: str) -> str:
        if not await self._is_known(model):
            return f"I don't know the model `{model}`; `/finetune models` lists the ones I used."
        await self._switch(model, await self._history_entry(model), user, "use")
        return f"<@{user}> switched me to `{model}`."

    async def rollback(self, user: str) -> str:
        current = await self.current()
        history = await self._models.history(limit=100)
        earlier = next((swap for swap in history if swap.model != current), None)
        target = earlier.model if earlier else self._default
        if target == current:
            return f"There is no earlier model to go back to; I am using `{current}`."
        await self._switch(target, earlier, user, "rollback")
        return f"<@{user}> rolled me back from `{current}` to `{target}`."

    async def _switch(self, model: str, earlier: ModelSwap | None, user: str, reason: str) -> None:
        # A model used before keeps its job and the system prompt it was trained with.
        await self._models.activate(
            ModelSwap(
                model=model,
                job_id=earlier.job_id if earlier else None,
                by=user,
                reason=reason,
                system_prompt=earlier.system_prompt if earlier else None,
            )
        )

    async def _history_entry(self, model: str) -> ModelSwap | None:
        """How `model` was used before, else the job that trained it (a model the swap gate
        held back was never used, but its job knows its system prompt)."""
        used = next((s for s in await self._models.history(limit=100) if s.model == model), None)
        if used:
            return used
        for job in await self._jobs.finished(limit=50):
            if job.fine_tuned_model == model:
                return ModelSwap(model=model, job_id=job.id, system_prompt=job.system_prompt)
        return None

    async def _is_known(self, model: str) -> bool:
        if model == self._default or await self._history_entry(model):
            return True
        try:
            await self._client.models.retrieve(model)
        except openai.NotFoundError:
            return False
        return True
