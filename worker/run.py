"""What one training run is given and what it gives back (no heavy imports here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from worker.config import Hyperparameters

# report(event=None, **fields) -> "continue" | "cancel" | "lost" | "shutdown"
Report = Callable[..., str]


class TrainingError(Exception):
    """Training can't run; `str()` is one sentence for people."""


@dataclass(frozen=True)
class TrainingRun:
    base_model: str  # a local directory or a model id already in the Hugging Face cache
    training_file: bytes
    validation_file: bytes | None
    epochs: int
    adapter_dir: Path  # written only when training finishes
    hyperparameters: Hyperparameters


@dataclass(frozen=True)
class Trained:
    adapter_dir: Path
    trained_tokens: int
    step: int
    total_steps: int
    train_loss: float | None


@dataclass(frozen=True)
class Stopped:
    reason: str  # "cancel", "lost" or "shutdown"
    step: int
    total_steps: int
