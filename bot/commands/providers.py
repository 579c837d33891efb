"""`/finetune providers`: every configured provider, whether it answers, what it may do, and
the models it lists with their shutdown dates."""

from __future__ import annotations

import asyncio

import openai

from bot.commands.results import ProviderList, ProviderView
from bot.providers.lifecycle import Lifecycle
from bot.providers.registry import Providers
from storage.models import ModelStore


async def list_providers(
    providers: Providers, lifecycle: Lifecycle, models: ModelStore
) -> ProviderList:
    in_use: dict[str, list[str]] = {}
    for swap in [await models.active(), *await models.history(limit=100)]:
        if swap is not None:
            ref = providers.ref(swap.model, swap.provider)
            in_use.setdefault(ref.provider, [])
            if ref.model not in in_use[ref.provider]:
                in_use[ref.provider].append(ref.model)
    views = await asyncio.gather(
        *(_view(providers, lifecycle, name, in_use.get(name, [])) for name in providers.names)
    )
    return ProviderList(list(views), providers.config.source)


async def _view(
    providers: Providers, lifecycle: Lifecycle, name: str, in_use: list[str]
) -> ProviderView:
    provider = providers.get(name)
    defaults = [
        what
        for what, default in (("chat", providers.default_chat), ("train", providers.default_train))
        if default == name
    ]
    view = {
        "name": name,
        "label": providers.label(name),
        "kind": provider.kind,
        "chat": provider.chat,
        "train": provider.train,
        "defaults": defaults,
        "in_use": in_use,
    }
    try:
        listed = await lifecycle.models_of(name)
    except openai.NotFoundError:
        # It answered, but has no model listing (Fireworks' inference API has none).
        return ProviderView(**view, reachable=True, problem="It does not list its models.")
    except openai.APIStatusError as error:
        problem = f"It refused to list its models (HTTP {error.status_code})"
        if error.status_code in (401, 403):
            problem += f"; check the key in {provider.api_key_env or 'its key variable'}"
        return ProviderView(**view, reachable=True, problem=problem + ".")
    except openai.OpenAIError as error:
        # Not the address: anyone in the chat may ask, and it can name an internal host.
        problem = (
            f"It did not answer ({type(error).__name__}); check its base_url in "
            f"{providers.config.source}."
        )
        return ProviderView(**view, reachable=False, problem=problem)
    return ProviderView(**view, reachable=True, models=listed, listed=len(listed))
