"""The worker's settings, read once from the environment (and `.env`)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True)
class Hyperparameters:
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    learning_rate: float = 2e-4
    max_seq_length: int = 2048
    batch_size: int = 4
    gradient_accumulation_steps: int = 1
    seed: int = 42


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the variable in one line."""


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class WorkerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # No embedded Redis here: the worker must share the bot's Redis to see its jobs.
    redis_url: str
    redis_prefix: str = Field(default="finetune", pattern=r"^[A-Za-z0-9_.-]+$")
    local_models_dir: Path = Path("data/models")
    worker_id: str = Field(default_factory=_default_worker_id, pattern=r"^[A-Za-z0-9_.:-]+$")
    poll_seconds: float = Field(default=5, gt=0)
    # A job this worker holds is touched every third of this; one not touched for this long
    # is taken as left by a dead worker, and the next sweep (every SWEEP_SECONDS, by any
    # worker) queues it again.
    heartbeat_seconds: int = Field(default=30, ge=2)
    sweep_seconds: int = Field(default=10, ge=1)
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    learning_rate: float = Field(default=2e-4, gt=0)
    max_seq_length: int = Field(default=2048, ge=16)
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)

    @property
    def hyperparameters(self) -> Hyperparameters:
        return Hyperparameters(
            lora_r=self.lora_r,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            learning_rate=self.learning_rate,
            max_seq_length=self.max_seq_length,
            batch_size=self.batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
        )


def load_settings(**overrides: object) -> WorkerSettings:
    """Build settings, turning pydantic's report into one line that names the variable."""
    try:
        return WorkerSettings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = str(error["loc"][0]).upper() if error["loc"] else "settings"
        if error["type"] == "missing":
            raise SettingsError(f"{name} is required but not set") from None
        raise SettingsError(f"{name} is invalid: {error['msg']}") from None
