"""OpenAI's fine-tuning API, and every provider that speaks it (Azure OpenAI, gateways).

The SDK retries reads and uploads itself. Job creation is not retried blindly: OpenAI has no
idempotency key, so after a timeout or a 5xx we first look for the job by its metadata.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import openai
from openai import AsyncAzureOpenAI, AsyncOpenAI

from bot.providers.config import Provider
from bot.trainers.base import (
    FileRejected,
    JobGone,
    JobProgress,
    JobSpec,
    MetricPoint,
    TrainerContext,
    TrainerError,
    TrainingClosed,
    Unreachable,
    output_model,
    provider_label,
)
from bot.training.model_table import OPENAI_TRAINING_CLOSES

logger = logging.getLogger(__name__)

# Seconds between job-creation attempts while the provider still says the file is not ready.
FILE_NOT_READY_DELAYS = (1, 2, 4, 8, 15, 30)
EVENTS_READ = 100  # each poll; every metrics event seen is a point of the loss chart
EVENTS_KEPT = 3


def openai_client(provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=provider.key, base_url=provider.base_url, timeout=timeout_seconds, max_retries=2
    )


class OpenAIKind:
    """OpenAI itself: its fine-tuning closes to new jobs on 2027-01-06."""

    name = "openai"
    label = "OpenAI"
    family = "openai"
    training_closes: date | None = OPENAI_TRAINING_CLOSES
    default_base_url: str | None = "https://api.openai.com/v1"
    needs_key = True
    reply_limit = "max_completion_tokens"
    requires: tuple[str, ...] = ()

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        return openai_client(provider, timeout_seconds)

    def trainer(self, provider: Provider, context: TrainerContext) -> OpenAITrainer:
        return OpenAITrainer(
            openai_client(provider, context.timeout_seconds),
            name=provider.name,
            label=provider_label(self.label, provider),
            training_closes=self.training_closes,
        )


class CompatibleKind(OpenAIKind):
    """Any other server speaking OpenAI's API (a gateway, vLLM, Ollama): OpenAI's models, or
    its own, and none of OpenAI's wind-down."""

    name = "compatible"
    label = "the OpenAI-compatible server"
    training_closes = None
    default_base_url = None
    needs_key = False
    reply_limit = "max_tokens"  # what vLLM, Ollama and most gateways take


class AzureKind(OpenAIKind):
    """Azure OpenAI: jobs through the Azure SDK (`api-version`), chat through the resource's
    OpenAI-compatible `/openai/v1/` endpoint. Not part of OpenAI's wind-down."""

    name = "azure"
    label = "Azure OpenAI"
    training_closes = None
    default_base_url = None  # the resource's endpoint

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        url = (provider.base_url or "").rstrip("/")
        if not url.endswith("/openai/v1"):
            url += "/openai/v1"
        return AsyncOpenAI(
            api_key=provider.key, base_url=url, timeout=timeout_seconds, max_retries=2
        )

    def trainer(self, provider: Provider, context: TrainerContext) -> OpenAITrainer:
        endpoint = (provider.base_url or "").removesuffix("/").removesuffix("/openai/v1")
        azure = AsyncAzureOpenAI(
            api_key=provider.key,
            azure_endpoint=endpoint,
            api_version=provider.api_version,
            timeout=context.timeout_seconds,
            max_retries=2,
        )
        return OpenAITrainer(azure, name=provider.name, label=provider_label(self.label, provider))


class OpenAITrainer:
    def __init__(
        self,
        client: AsyncOpenAI,
        *,
        name: str = "openai",
        label: str = "OpenAI",
        training_closes: date | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = client
        self._sleep = sleep
        # Creation must not be replayed by the SDK: a lost answer may hide a created job.
        self._create_client = client.with_options(max_retries=0)
        self.name = name
        self.label = label
        self.training_closes = training_closes
        self.supports_dpo = True

    async def close(self) -> None:
        await self._client.close()  # the no-retry copy shares its connections

    async def upload(self, path: Path, filename: str) -> str:
        # An open file, not a Path (which the SDK reads whole into memory) nor a stream: the
        # SDK sends a file a chunk at a time and, since it can seek, rewinds it to retry.
        with _translated(self.label, "upload the file"), path.open("rb") as file:
            uploaded = await self._client.files.create(file=(filename, file), purpose="fine-tune")
            processed = await self._client.files.wait_for_processing(uploaded.id, poll_interval=1.0)
        if processed.status == "error":
            raise FileRejected(
                f"{self.label} rejected the file: {processed.status_details or 'no reason given'}"
            )
        return uploaded.id

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        return False  # OpenAI's files can't be changed, and a job reads its file at once

    async def delete_file(self, file_id: str) -> None:
        with _translated(self.label, "delete a file"), contextlib.suppress(openai.NotFoundError):
            await self._client.files.delete(file_id)

    async def create_job(self, spec: JobSpec) -> JobProgress:
        delays = iter(FILE_NOT_READY_DELAYS)
        while True:
            try:
                with _translated(self.label, "start the job"):
                    job = await self._create_client.fine_tuning.jobs.create(
                        model=spec.base_model,
                        training_file=spec.training_file,
                        validation_file=spec.validation_file or openai.NOT_GIVEN,
                        suffix=spec.suffix or openai.NOT_GIVEN,
                        method=_method(spec),
                        metadata={
                            "bot": spec.bot,
                            "job_ref": spec.ref,
                            "dataset_sha256": spec.dataset_sha256,
                        },
                    )
                return _progress(job)
            except FileNotReady:
                # Refused before anything was created, so trying again is safe.
                delay = next(delays, None)
                if delay is None:
                    raise TrainerError(
                        f"{self.label} did not finish processing the file in time; try again."
                    ) from None
                await self._sleep(delay)

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        with _translated(self.label, "look for the job"):
            page = await self._client.fine_tuning.jobs.list(
                limit=10, extra_query={"metadata[job_ref]": spec.ref}
            )
        for job in page.data:
            # Not every OpenAI-compatible server filters by metadata; check it ourselves.
            if (job.metadata or {}).get("job_ref") == spec.ref:
                return _progress(job)
        return None

    async def job(self, job_id: str) -> JobProgress:
        with _translated(self.label, "read the job"):
            try:
                job = await self._client.fine_tuning.jobs.retrieve(job_id)
            except openai.NotFoundError:
                raise JobGone(f"{self.label} no longer knows job `{job_id}`.") from None
        progress = _progress(job)
        try:
            page = await self._client.fine_tuning.jobs.list_events(job_id, limit=EVENTS_READ)
        except openai.OpenAIError:
            return progress  # the state alone is still worth reporting
        _apply_events(progress, list(page.data))
        return progress

    async def cancel(self, job_id: str) -> None:
        with _translated(self.label, "cancel the job"):
            await self._client.fine_tuning.jobs.cancel(job_id)

    async def serving_model(self, job: JobProgress) -> str:
        return output_model(job, self.label)


def _method(spec: JobSpec) -> dict:
    """`method` of the job: supervised, or DPO with its beta when one was given."""
    hyperparameters: dict = {"n_epochs": spec.epochs}
    if spec.method == "dpo" and spec.beta is not None:
        hyperparameters["beta"] = spec.beta
    return {"type": spec.method, spec.method: {"hyperparameters": hyperparameters}}


class FileNotReady(TrainerError):
    """The provider has the file but has not finished processing it."""


@contextlib.contextmanager
def _translated(label: str, action: str) -> Iterator[None]:
    """Turn SDK errors into the interface's errors, each one sentence for a person."""
    try:
        yield
    except openai.PermissionDeniedError as error:
        if error.code == "training_not_available":
            raise TrainingClosed(
                f"{label} no longer accepts new fine-tuning jobs for this organisation."
            ) from error
        raise TrainerError(f"{label} refused to {action}: {_short(error)}") from error
    except openai.BadRequestError as error:
        if error.code == "file_not_ready" or "not ready" in str(error.message).lower():
            raise FileNotReady(str(error.message)) from error
        raise TrainerError(f"{label} refused to {action}: {_short(error)}") from error
    except openai.APIStatusError as error:
        logger.warning("trainer: %s could not %s (HTTP %s)", label, action, error.status_code)
        if error.status_code >= 500 or error.status_code == 429:
            raise Unreachable(
                f"{label} could not {action} (HTTP {error.status_code}); try again later."
            ) from error
        raise TrainerError(f"{label} refused to {action}: {_short(error)}") from error
    except openai.OpenAIError as error:
        # Connection errors, timeouts, and answers the SDK could not parse.
        logger.warning("trainer: %s did not answer to %s (%s)", label, action, type(error).__name__)
        raise Unreachable(f"I couldn't reach {label} to {action}; try again.") from error


def _progress(job: Any) -> JobProgress:
    error = getattr(job.error, "message", None) if job.error else None
    return JobProgress(
        id=job.id,
        status=job.status,
        output_model=job.fine_tuned_model,
        trained_tokens=job.trained_tokens,
        error=error,
    )


def _apply_events(progress: JobProgress, events: list[Any]) -> None:
    progress.events = [event.message for event in events[:EVENTS_KEPT]]
    for event in events:  # newest first: the first metrics event is the latest step
        data = event.data if isinstance(event.data, dict) else None
        if event.type != "metrics" or not data or not isinstance(data.get("step"), int):
            continue
        # At some steps OpenAI reports a loss on the whole validation file: the better figure.
        valid = _loss(data, "full_valid_loss", "valid_loss")
        point = MetricPoint(data["step"], _loss(data, "train_loss"), valid)
        if not progress.metrics:
            progress.step, progress.total_steps = point.step, data.get("total_steps")
            progress.train_loss, progress.valid_loss = point.train_loss, point.valid_loss
        progress.metrics.append(point)


def _loss(data: dict, *names: str) -> float | None:
    """The first of `names` that holds a number."""
    for name in names:
        if isinstance(data.get(name), int | float):
            return float(data[name])
    return None


def _short(error: openai.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    return str(body.get("message") or error.message)[:200]
