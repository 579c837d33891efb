"""Training backends behind one interface; `build_trainer` picks one from TRAIN_BACKEND."""

from __future__ import annotations

from openai import AsyncAzureOpenAI, AsyncOpenAI
from redis.asyncio import Redis

from bot.config import NO_KEY, Settings
from bot.model_table import OPENAI_TRAINING_CLOSES, ModelInfo, ModelTable
from bot.trainers.base import Trainer
from bot.trainers.openai_api import OpenAITrainer
from bot.trainers.together import TogetherTrainer
from storage.keys import Keys

__all__ = ["Trainer", "build_trainer", "training_table"]


def build_trainer(settings: Settings, redis: Redis, keys: Keys) -> Trainer:
    timeout = settings.openai_timeout_seconds
    match settings.train_backend:
        case "openai" | "compatible":
            client = AsyncOpenAI(
                api_key=settings.train_key or NO_KEY,
                base_url=settings.train_base_url or settings.openai_base_url,
                timeout=timeout,
                max_retries=2,
            )
            if settings.train_backend == "compatible":
                # Another server speaking OpenAI's API is not part of OpenAI's wind-down.
                return OpenAITrainer(client, name="compatible", label="the fine-tuning server")
            return OpenAITrainer(client, training_closes=OPENAI_TRAINING_CLOSES)
        case "azure":
            azure = AsyncAzureOpenAI(
                api_key=settings.train_api_key or NO_KEY,
                azure_endpoint=settings.train_base_url or "",
                api_version=settings.train_api_version,
                timeout=timeout,
                max_retries=2,
            )
            return OpenAITrainer(azure, name="azure", label="Azure OpenAI")
        case "together":
            return TogetherTrainer(settings.train_api_key, settings.train_base_url, timeout)
        case "local":
            # Imported here: only this backend needs it, and it stays free of torch anyway.
            from bot.trainers.local import LocalTrainer

            return LocalTrainer(
                redis,
                keys,
                chat_base_url=settings.chat_url or "https://api.openai.com/v1",
                chat_api_key=settings.chat_key or NO_KEY,
                models_dir=settings.local_models_dir,
            )


# The worker truncates at MAX_SEQ_LENGTH (2048 by default); refuse longer examples up front.
LOCAL_MAX_TOKENS = 2048


def training_table(table: ModelTable, trainer: Trainer, base_model: str) -> ModelTable:
    """The models this backend can train, with the backend's own closing date.

    Azure and other servers that speak OpenAI's API train OpenAI's models but are not part of
    OpenAI's wind-down; the local worker trains whatever open model it is given.
    """
    family = "openai" if isinstance(trainer, OpenAITrainer) else trainer.name
    not_closing = family == "openai" and trainer.training_closes is None
    models = [
        info.model_copy(update={"training_closes": None}) if not_closing else info
        for info in table
        if info.provider == family
    ]
    if trainer.name == "local" and table.lookup(base_model) is None:
        models.append(
            ModelInfo(
                name=base_model,
                encoding="o200k_base",  # an estimate: open models bring their own tokenisers
                max_tokens_per_example=LOCAL_MAX_TOKENS,
                training_price_per_million=0.0,
                provider="local",
            )
        )
    return ModelTable(models)
