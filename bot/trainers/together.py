"""Together AI's fine-tuning API (documented REST, `https://api.together.xyz/v1`).

Chosen as the hosted alternative because it takes our chat JSONL as it is, per-message
`weight` 0/1 included, trains LoRA adapters on open models, and serves the result behind an
OpenAI-compatible `/v1/chat/completions`, so the chat side only changes its base URL.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import aiohttp
from openai import AsyncOpenAI

from bot.providers.config import Provider
from bot.trainers.base import (
    FileRejected,
    JobGone,
    JobProgress,
    JobSpec,
    TrainerContext,
    TrainerError,
    Unreachable,
    error_message,
    json_object,
    output_model,
    provider_label,
)
from bot.trainers.openai_api import openai_client

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.together.xyz/v1"
EVENTS_KEPT = 3

# Together's job statuses, in the words the rest of the bot uses.
_STATUSES = {
    "pending": "queued",
    "queued": "queued",
    "running": "running",
    "compressing": "running",
    "uploading": "running",
    "cancel_requested": "running",
    "completed": "succeeded",
    "cancelled": "cancelled",
    "error": "failed",
    "user_error": "failed",
}
_REJECTED_FILE_STATES = frozenset({"FAILED", "INVALID_FORMAT"})


class TogetherKind:
    """Together AI: trains LoRA on open models and serves them at the same `/v1`."""

    name = "together"
    label = "Together AI"
    family = "together"
    training_closes = None
    default_base_url = DEFAULT_BASE_URL
    reply_limit = "max_tokens"
    needs_key = True
    requires = ()

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        return openai_client(provider, timeout_seconds)

    def trainer(self, provider: Provider, context: TrainerContext) -> TogetherTrainer:
        return TogetherTrainer(
            provider.api_key,
            provider.base_url,
            context.timeout_seconds,
            name=provider.name,
            label=provider_label(self.label, provider),
        )


class TogetherTrainer:
    training_closes = None
    supports_dpo = True  # same preference JSONL as OpenAI

    def __init__(
        self,
        api_key: str,
        base_url: str | None,
        timeout_seconds: float,
        *,
        name: str = "together",
        label: str = "Together AI",
    ) -> None:
        self.name = name
        self.label = label
        self._base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    async def upload(self, path: Path, filename: str) -> str:
        with path.open("rb") as file:
            # aiohttp sends an open file from disk a chunk at a time.
            form = aiohttp.FormData()
            form.add_field("purpose", "fine-tune")
            form.add_field("file_name", filename)
            form.add_field("file_type", "jsonl")
            form.add_field("file", file, filename=filename, content_type="application/jsonl")
            uploaded = await self._request("POST", "/files/upload", "upload the file", data=form)
        state = str(uploaded.get("status") or uploaded.get("Status") or "").upper()
        if state in _REJECTED_FILE_STATES:
            raise FileRejected(f"{self.label} rejected the file ({state.lower()}).")
        return str(uploaded["id"])

    async def close(self) -> None:
        pass  # a session per request: nothing stays open

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        return False  # Together's files can't be changed, and a job reads its file at once

    async def delete_file(self, file_id: str) -> None:
        with contextlib.suppress(_NotFound):
            await self._request("DELETE", f"/files/{file_id}", "delete a file")

    async def create_job(self, spec: JobSpec) -> JobProgress:
        body: dict[str, Any] = {
            "training_file": spec.training_file,
            "model": spec.base_model,
            "n_epochs": spec.epochs,
            "lora": True,
            "training_method": _training_method(spec),
        }
        if spec.suffix:
            body["suffix"] = spec.suffix
        if spec.validation_file:
            body["validation_file"] = spec.validation_file
            body["n_evals"] = 1
        return _progress(await self._request("POST", "/fine-tunes", "start the job", json=body))

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        # Together keeps no metadata on jobs; the training file id is unique to our upload.
        listing = await self._request("GET", "/fine-tunes", "look for the job")
        for job in listing.get("data") or []:
            if job.get("training_file") == spec.training_file:
                return _progress(job)
        return None

    async def job(self, job_id: str) -> JobProgress:
        try:
            job = await self._request("GET", f"/fine-tunes/{job_id}", "read the job")
        except _NotFound:
            raise JobGone(f"{self.label} no longer knows job `{job_id}`.") from None
        progress = _progress(job)
        try:
            listing = await self._request(
                "GET", f"/fine-tunes/{job_id}/events", "read the job's events"
            )
        except TrainerError:
            return progress  # the state alone is still worth reporting
        # Together lists events oldest first.
        messages = [e.get("message") for e in reversed(listing.get("data") or [])]
        progress.events = [m for m in messages if m][:EVENTS_KEPT]
        return progress

    async def cancel(self, job_id: str) -> None:
        await self._request("POST", f"/fine-tunes/{job_id}/cancel", "cancel the job")

    async def serving_model(self, job: JobProgress) -> str:
        return output_model(job, self.label)

    async def _request(self, method: str, path: str, action: str, **kwargs: Any) -> dict:
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers, timeout=self._timeout) as session,
                session.request(method, self._base_url + path, **kwargs) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("trainer: %s did not answer (%s)", self.label, type(error).__name__)
            raise Unreachable(f"I couldn't reach {self.label} to {action}; try again.") from error
        if status == 404:
            raise _NotFound
        if status >= 500 or status == 429:
            logger.warning("trainer: %s could not %s (HTTP %s)", self.label, action, status)
            raise Unreachable(f"{self.label} could not {action} (HTTP {status}); try again later.")
        payload = json_object(text)
        if status >= 400 or payload is None:
            reason = error_message(payload) if status >= 400 else "its answer was not JSON"
            raise TrainerError(f"{self.label} refused to {action}: {reason}")
        return payload


def _training_method(spec: JobSpec) -> dict[str, Any]:
    if spec.method != "dpo":
        return {"method": "sft"}
    method: dict[str, Any] = {"method": "dpo"}
    if spec.beta is not None:
        method["dpo_beta"] = spec.beta
    return method


class _NotFound(TrainerError):
    pass


def _progress(job: dict[str, Any]) -> JobProgress:
    status = _STATUSES.get(str(job.get("status")), "running")
    tokens, epochs = job.get("token_count"), job.get("n_epochs")
    error = None
    if status == "failed":
        error = job.get("error") if isinstance(job.get("error"), str) else None
    return JobProgress(
        id=str(job["id"]),
        status=status,
        output_model=job.get("model_output_name") or job.get("output_name"),
        # Together counts the dataset's tokens; training passes over them once per epoch.
        trained_tokens=tokens * epochs
        if isinstance(tokens, int) and isinstance(epochs, int)
        else None,
        error=error,
        step=job.get("steps_completed"),
        total_steps=job.get("total_steps"),
    )
