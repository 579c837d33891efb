"""Provider kinds behind one interface: each is one module here and one line in KINDS."""

from __future__ import annotations

from bot.trainers.base import ProviderKind, Trainer, TrainerContext
from bot.trainers.fireworks import FireworksKind
from bot.trainers.local import LocalKind
from bot.trainers.openai_api import AzureKind, CompatibleKind, OpenAIKind
from bot.trainers.together import TogetherKind
from bot.training.model_table import ModelInfo, ModelTable

__all__ = ["KINDS", "ProviderKind", "Trainer", "TrainerContext", "training_table"]

KINDS: dict[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        OpenAIKind(),
        AzureKind(),
        TogetherKind(),
        FireworksKind(),
        CompatibleKind(),
        LocalKind(),
    )
}

# The worker truncates at MAX_SEQ_LENGTH (2048 by default); refuse longer examples up front.
LOCAL_MAX_TOKENS = 2048


def training_table(table: ModelTable, kind: ProviderKind) -> ModelTable:
    """The models a provider of this kind can train, with the kind's own closing date.

    Azure and other servers that speak OpenAI's API train OpenAI's models but are not part of
    OpenAI's wind-down; the local worker trains whatever open model it is given
    (`local_model`).
    """
    return ModelTable(
        info.model_copy(update={"training_closes": kind.training_closes})
        if kind.family == "openai" and kind.training_closes is None
        else info
        for info in table
        if info.provider == kind.family
    )


def local_model(name: str) -> ModelInfo:
    """An open model the local worker is asked to train, which no table lists."""
    return ModelInfo(
        name=name,
        encoding="o200k_base",  # an estimate: open models bring their own tokenisers
        max_tokens_per_example=LOCAL_MAX_TOKENS,
        training_price_per_million=0.0,
        provider="local",
    )
