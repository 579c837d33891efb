"""The model in use, and the one door through which it changes. `activate` is the only writer:
a job's end (watcher), a promotion (comparison), a model that shut down (providers/shutdown),
and by hand `/finetune use <model> [provider=<name>]` and `/finetune rollback`, across providers:
each model is used where it is served. Every change lands in the history with its reason."""

from __future__ import annotations

import logging

import openai

from bot.errors import Refused
from bot.providers.lifecycle import list_models
from bot.providers.registry import ModelRef, ProviderError, Providers
from storage.jobs import JobStore
from storage.models import ModelStore, ModelSwap

logger = logging.getLogger(__name__)


class ModelSwitcher:
    def __init__(
        self,
        providers: Providers,
        models: ModelStore,
        jobs: JobStore,
        default_model: str,
        *,
        many_teams: bool = False,
    ) -> None:
        self._providers = providers
        self._models = models
        self._jobs = jobs
        self._default = default_model
        self._many_teams = many_teams

    async def current(self) -> str:
        return (await self.current_ref()).model

    async def current_ref(self) -> ModelRef:
        swap = await self._models.active()
        if swap is None:
            return self._providers.ref(self._default)
        return self._providers.ref(swap.model, swap.provider)

    async def use(self, model: str, user: str, provider: str | None = None) -> str:
        """Switch to `model`; what happened. Raises Refused when it can't."""
        try:
            if provider is not None:
                self._providers.get(provider)  # named by the user: say which ones exist
        except ProviderError as error:
            raise Refused(str(error)) from None
        earlier = await self.known(model, provider)
        ref = self._providers.ref(model, provider or (earlier.provider if earlier else None))
        if earlier is None and self.another_teams_maybe(ref):
            raise Refused(
                f"`{model}` is neither a model this team trained or used nor a base model of "
                "the model table, and each team here has its own: `/finetune models` lists "
                "this team's."
            )
        try:
            self._providers.check_chat(ref)
            if earlier is None and not await self._is_served(ref):
                raise Refused(
                    f"I don't know the model `{model}` on {self._providers.label(ref.provider)}; "
                    "`/finetune models` lists the ones I used, `/finetune providers` what each "
                    "provider serves."
                )
        except ProviderError as error:
            raise Refused(str(error)) from None
        await self._switch(ref, earlier, user, "use")
        return f"<@{user}> switched me to `{model}` on {self._providers.label(ref.provider)}."

    async def rollback(self, user: str) -> str:
        current = await self.current_ref()
        history = await self._models.history(limit=100)
        earlier = next(
            (s for s in history if self._providers.ref(s.model, s.provider) != current), None
        )
        target = (
            self._providers.ref(earlier.model, earlier.provider)
            if earlier
            else self._providers.ref(self._default)
        )
        if target == current:
            raise Refused(f"There is no earlier model to go back to; I am using `{current.model}`.")
        try:
            self._providers.check_chat(target)
        except ProviderError as error:
            raise Refused(f"I can't roll back to `{target.model}`: {error}") from None
        await self._switch(target, earlier, user, "rollback")
        return (
            f"<@{user}> rolled me back from `{current.model}` to `{target.model}` on "
            f"{self._providers.label(target.provider)}."
        )

    async def activate(self, swap: ModelSwap) -> None:
        """Switch every process at once (they read the model in use per request), and keep
        the swap, with its reason, in the history for rollback and `/finetune models`."""
        await self._models.activate(swap)
        logger.info("model: now %s (%s)", swap.model, swap.reason)

    async def _switch(
        self, ref: ModelRef, earlier: ModelSwap | None, user: str, reason: str
    ) -> None:
        # A model used before keeps its job and the system prompt it was trained with.
        await self.activate(
            ModelSwap(
                model=ref.model,
                provider=ref.provider,
                job_id=earlier.job_id if earlier else None,
                by=user,
                reason=reason,
                system_prompt=earlier.system_prompt if earlier else None,
            )
        )
        await self._models.back(str(ref))  # chosen by hand: it answers again, as far as we know

    async def known(self, model: str, provider: str | None) -> ModelSwap | None:
        """How `model` was used before, else the job that trained it (a model the swap gate
        held back was never used, but its job knows its system prompt and provider)."""
        for swap in await self._models.history(limit=100):
            if swap.model == model and provider in (
                None,
                self._providers.ref(model, swap.provider).provider,
            ):
                return swap
        for job in await self._jobs.finished(limit=50):
            served_by = self._providers.serving(job.provider)
            if job.fine_tuned_model == model and provider in (None, served_by):
                return ModelSwap(
                    model=model,
                    provider=served_by,
                    job_id=job.id,
                    system_prompt=job.system_prompt,
                )
        return None

    def another_teams_maybe(self, ref: ModelRef) -> bool:
        """With many teams on one deployment the providers' accounts are shared: a model this
        team never trained nor used may be another team's fine-tune, trained on that team's
        conversations. Only the model table's base models (and the default) are everyone's."""
        if not self._many_teams or ref == self._providers.ref(self._default):
            return False
        model = ref.model.strip()
        # The table looks an OpenAI fine-tune up by its base model; it is no base model itself.
        return model.startswith("ft:") or self._providers.table.lookup(model) is None

    async def _is_served(self, ref: ModelRef) -> bool:
        if ref == self._providers.ref(self._default):
            return True
        client = self._providers.client(ref)
        try:
            try:
                await client.models.retrieve(ref.model)
            except openai.NotFoundError:
                # Some providers (Together) have no lookup by id, only the listing.
                return ref.model in {model for model, _ in await list_models(client)}
        except openai.APIStatusError as error:
            logger.warning("use: %s answered HTTP %s", ref.provider, error.status_code)
            raise ProviderError(
                f"{self._providers.label(ref.provider)} refused to look up `{ref.model}` "
                f"(HTTP {error.status_code}); nothing changed. Check the provider's key."
            ) from None
        except openai.OpenAIError as error:
            logger.warning("use: %s did not answer (%s)", ref.provider, type(error).__name__)
            raise ProviderError(
                f"I couldn't reach {self._providers.label(ref.provider)} to check `{ref.model}`; "
                "nothing changed. Try again, or check the provider's address and key."
            ) from None
        return True
