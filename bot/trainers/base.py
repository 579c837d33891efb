"""The trainer interface: what the core needs from any place that fine-tunes a model.

`FineTuner` and `JobWatcher` talk only to this; each backend (OpenAI and OpenAI-compatible
APIs, Together AI, a local GPU worker) translates it to its own API, so switching backend
is configuration, and curation code never changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from storage.schemas import MetricPoint

if TYPE_CHECKING:
    from openai import AsyncOpenAI
    from redis.asyncio import Redis

    from bot.providers.config import Provider
    from storage.keys import Keys

# Statuses a backend reports, in OpenAI's words; every backend maps its own onto these.
RUNNING_STATUSES = frozenset({"validating_files", "queued", "running"})
FINAL_STATUSES = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to create one job from files already uploaded."""

    ref: str  # our reference; sent as metadata where the provider keeps it, to find the job again
    base_model: str
    epochs: int
    suffix: str | None
    training_file: str
    validation_file: str | None
    dataset_sha256: str
    bot: str  # REDIS_PREFIX, so several bots on one account can tell their jobs apart
    method: str = "supervised"  # or "dpo": the files hold preference pairs
    beta: float | None = None  # DPO's beta; None: the provider's default


@dataclass
class JobProgress:
    """A job as the backend sees it now."""

    id: str
    status: str  # one of RUNNING_STATUSES or FINAL_STATUSES
    output_model: str | None = None  # the backend's name for the trained model
    trained_tokens: int | None = None
    error: str | None = None
    events: list[str] = field(default_factory=list)  # newest first
    step: int | None = None
    total_steps: int | None = None
    train_loss: float | None = None
    valid_loss: float | None = None
    # Every step's losses the backend showed this time (the watcher keeps them all).
    metrics: list[MetricPoint] = field(default_factory=list)


class TrainerError(Exception):
    """A backend refused or failed; `str()` is one sentence for the person who asked."""


class TrainingClosed(TrainerError):
    """The provider no longer accepts new fine-tuning jobs from this account."""


class FileRejected(TrainerError):
    """The provider processed an uploaded file and rejected it."""


class Unreachable(TrainerError):
    """The backend did not answer; a request that creates something may still have done so."""


class JobGone(TrainerError):
    """The backend no longer knows the job."""


class Trainer(Protocol):
    name: str  # the provider's name (PROVIDERS_FILE), which jobs remember
    label: str  # how people call the provider: "OpenAI", "Together AI", ...
    training_closes: date | None  # the day the provider stops taking new jobs, if announced
    supports_dpo: bool  # trains on preference pairs (`method=dpo`)

    async def upload(self, path: Path, filename: str) -> str:
        """Upload the JSONL file at `path` as `filename` and wait until the backend accepts
        it; return its id. Read from disk as it is sent: the file may be hundreds of MB."""

    async def create_job(self, spec: JobSpec) -> JobProgress:
        """Create the job. Must not be retried blindly: on `Unreachable`, call `find_job`."""

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        """A job created from `spec` whose creation we never heard back about, if any."""

    async def job(self, job_id: str) -> JobProgress:
        """The job's state, latest events and progress. Raises `JobGone` if it is unknown."""

    async def cancel(self, job_id: str) -> None: ...

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        """Put `content` in place of an uploaded file nobody has trained on yet (forget-me
        reached some of its lines); False where the provider took the file as it was."""

    async def delete_file(self, file_id: str) -> None:
        """Delete an uploaded file once its job has ended (a file already gone is fine)."""

    async def close(self) -> None:
        """Release the backend's connections; the bot is stopping."""

    async def serving_model(self, job: JobProgress) -> str:
        """The model id the chat side should use now that `job` succeeded.

        Most backends serve `output_model` as it is; one that must load or deploy the
        result first (a LoRA adapter into vLLM) does that here.
        """


def output_model(job: JobProgress, label: str) -> str:
    """The model a hosted backend serves as it is: the job's output, which must be named."""
    if not job.output_model:
        raise TrainerError(f"{label} reported success but named no model.")
    return job.output_model


@dataclass(frozen=True)
class TrainerContext:
    """What a kind may need besides its provider's settings to build a trainer."""

    redis: Redis
    keys: Keys
    timeout_seconds: float
    gpu_queue_url: str | None = None  # the local workers' queue, when not on `redis`


class ProviderKind(Protocol):
    """One kind of provider (`kind = ...` in PROVIDERS_FILE): how to chat with it and how to
    train on it. Each lives in one module of bot/trainers/ and is registered in KINDS there."""

    name: str
    label: str  # the service's name for people: "OpenAI", "Fireworks AI"
    family: str  # which models of the model table it trains (ModelInfo.provider)
    training_closes: date | None  # the day the service stops taking new jobs, if announced
    default_base_url: str | None  # None: PROVIDERS_FILE must give base_url
    needs_key: bool  # the service refuses every request without one
    requires: tuple[str, ...]  # other keys its [providers.<name>] table must give
    # The chat request's cap on a reply's tokens: OpenAI deprecated `max_tokens` for
    # `max_completion_tokens` (its reasoning models refuse the old one); the others take
    # `max_tokens`.
    reply_limit: str

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        """An OpenAI-compatible client for the provider's chat endpoint."""

    def trainer(self, provider: Provider, context: TrainerContext) -> Trainer: ...


def provider_label(kind_label: str, provider: Provider) -> str:
    """How people call a provider: the service, and the configured name where it differs."""
    if provider.name.lower() in kind_label.lower():
        return kind_label
    return f"{kind_label} ({provider.name})"


def json_object(text: str) -> dict | None:
    """A REST answer's body as a JSON object; None when it is not one (a proxy's HTML page)."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def error_message(payload: dict | None) -> str:
    """The reason in a REST error body: `{"error": {"message"}}` (Together, and Fireworks
    outside its gateway) or `{"code", "message"}` (Fireworks' gateway); at most 200 characters."""
    if not payload:
        return "no reason given"
    error = payload.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or "no reason given")[:200]
    return str(payload.get("message") or error or "no reason given")[:200]
