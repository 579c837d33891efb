"""The configured providers at run time: a chat client and a trainer per provider, built once.

Every model the bot knows is a `ModelRef`: the model's id and the provider that serves it. Chat,
comparison and judge calls go to the client of that provider; a job goes to the trainer of the
provider it was started on, and is followed there even after the defaults change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openai import AsyncOpenAI

from bot.providers.config import Provider, ProvidersConfig
from bot.trainers import KINDS, ProviderKind, Trainer, TrainerContext, training_table
from bot.trainers import local_model as local_model_info
from bot.trainers.base import provider_label
from bot.training.model_table import ModelTable


@dataclass(frozen=True)
class ModelRef:
    model: str
    provider: str  # a name from the providers' configuration

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


class ProviderError(Exception):
    """A provider can't be used as asked; `str()` is one sentence for the person who asked."""


class Providers:
    def __init__(
        self,
        config: ProvidersConfig,
        table: ModelTable,
        context: TrainerContext,
        *,
        timeout_seconds: float,
        temperature: float | None = None,
        reply_max_tokens: int | None = None,
    ) -> None:
        self.config = config
        self._temperature = temperature
        self._reply_max_tokens = reply_max_tokens
        self.table = table  # every model we know, whoever trains it
        self._context = context
        self._timeout = timeout_seconds
        self._clients: dict[str, AsyncOpenAI] = {}
        self._trainers: dict[str, Trainer] = {}
        self._tables = {
            name: training_table(table, KINDS[provider.kind])
            for name, provider in config.providers.items()
            if provider.train
        }

    # Names ----------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.config.providers)

    @property
    def default_chat(self) -> str:
        return self.config.default_chat

    @property
    def default_train(self) -> str | None:
        return self.config.default_train

    def get(self, name: str) -> Provider:
        provider = self.config.providers.get(name)
        if provider is None:
            raise ProviderError(f"`{name}` is not a configured provider; {self._configured()}")
        return provider

    def kind(self, name: str) -> ProviderKind:
        return KINDS[self.get(name).kind]

    def label(self, name: str) -> str:
        """How people call a provider ("Together AI", "the local GPU worker (gpu)")."""
        provider = self.config.providers.get(name)
        if provider is None:
            return f"`{name}` (no longer configured)"
        return provider_label(KINDS[provider.kind].label, provider)

    def _configured(self) -> str:
        return f"{self.config.source} configures {', '.join(f'`{n}`' for n in self.names)}."

    # Chat -----------------------------------------------------------------------------------

    def ref(self, model: str, provider: str | None = None) -> ModelRef:
        """`model` where it is served: its recorded provider, else the default chat provider
        (records made before providers existed carry none)."""
        return ModelRef(model, provider or self.default_chat)

    def serving(self, provider: str) -> str:
        """Who serves what `provider` trained: itself where it chats, else the default chat
        provider (a one-provider setup that trains on Together and chats at CHAT_BASE_URL)."""
        configured = self.config.providers.get(provider)
        return provider if configured is None or configured.chat else self.default_chat

    def client(self, ref: ModelRef | str | None = None) -> AsyncOpenAI:
        """The chat client of a model's provider (a name, or None: the default)."""
        name = ref.provider if isinstance(ref, ModelRef) else ref or self.default_chat
        if name not in self._clients:
            provider = self.config.providers.get(name)
            if provider is None:
                raise ProviderError(
                    f"The model's provider `{name}` is no longer configured; "
                    f"{self._configured()} Add it back, or switch with `/finetune use`."
                )
            self._clients[name] = KINDS[provider.kind].chat_client(provider, self._timeout)
        return self._clients[name]

    def answer_options(self, ref: ModelRef) -> dict[str, Any]:
        """What every chat call to `ref` carries besides the messages: CHAT_TEMPERATURE, and
        REPLY_MAX_TOKENS under the name its provider's kind takes."""
        options: dict[str, Any] = {}
        if self._temperature is not None:
            options["temperature"] = self._temperature
        if self._reply_max_tokens:
            provider = self.config.providers.get(ref.provider)
            limit = KINDS[provider.kind].reply_limit if provider else "max_tokens"
            options[limit] = self._reply_max_tokens
        return options

    def check_chat(self, ref: ModelRef) -> None:
        """Raise ProviderError when `ref` can't be chatted with as configured now."""
        provider = self.config.providers.get(ref.provider)
        if provider is None:
            self.client(ref)  # raises, naming the provider
        elif not provider.chat:
            raise ProviderError(
                f"Provider `{ref.provider}` is configured with chat = false, so `{ref.model}` "
                "can't be served from it."
            )

    # Training -------------------------------------------------------------------------------

    def training_provider(self, name: str | None = None) -> str:
        """The provider a job trains on: `name`, else the default; ProviderError if it can't."""
        if name is None:
            if self.default_train is None:
                raise ProviderError(f"No provider here can train; {self._configured()}")
            return self.default_train
        provider = self.get(name)
        if not provider.train:
            trainers = [n for n, p in self.config.providers.items() if p.train]
            others = f" Ones that can: {', '.join(trainers)}." if trainers else ""
            raise ProviderError(
                f"Provider `{name}` is not configured to train (train = false).{others}"
            )
        return name

    def trainer(self, name: str | None = None) -> Trainer:
        name = self.training_provider(name)
        if name not in self._trainers:
            provider = self.get(name)
            self._trainers[name] = KINDS[provider.kind].trainer(provider, self._context)
        return self._trainers[name]

    def trainer_of_job(self, provider: str) -> Trainer | None:
        """The trainer a job started on `provider` is followed with; None if that provider is
        no longer configured to train."""
        configured = self.config.providers.get(provider)
        if configured is None or not configured.train:
            return None
        return self.trainer(provider)

    def training_table(self, name: str | None = None, model: str | None = None) -> ModelTable:
        """The models `name` (else the default) trains; with the local worker, which trains any
        open model it is given, `model` is added when no table lists it."""
        name = self.training_provider(name)
        table = self._tables[name]
        if model and self.get(name).kind == "local" and table.lookup(model) is None:
            return ModelTable([*table, local_model_info(model)])
        return table

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        for trainer in self._trainers.values():
            await trainer.close()
