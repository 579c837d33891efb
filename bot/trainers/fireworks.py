"""Fireworks AI: LoRA fine-tuning of open models through its documented REST API, served from
its OpenAI-compatible inference API (`/inference/v1`).

A dataset is a record (`POST /v1/accounts/{a}/datasets`) filled by a multipart upload; a job
is created under an id we choose (`?supervisedFineTuningJobId=`, `?dpoJobId=`), so a creation
whose answer was lost is found again by that id and never created twice. A finished LoRA is
loaded with `POST .../deployedModels`: onto the provider's `deployment` (a dedicated one, as
Fireworks serves most LoRAs), else onto serverless where Fireworks offers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
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

logger = logging.getLogger(__name__)

DEFAULT_ROOT = "https://api.fireworks.ai"
UPLOAD_LIMIT_BYTES = 150 * 1024 * 1024  # `:upload` takes up to 150 MB; larger go signed
READY_DELAYS = (0.5, 1, 2, 3, 5, 5, 10, 10, 15, 15, 30, 30)  # ~2 min for a dataset or a load
DPO_PREFIX = "dpo-"

# Fireworks' job states, in the words the rest of the bot uses (unknown ones: running).
_STATES = {
    "JOB_STATE_CREATING": "queued",
    "JOB_STATE_PENDING": "queued",
    "JOB_STATE_VALIDATING": "validating_files",
    "JOB_STATE_CREATING_INPUT_DATASET": "validating_files",
    "JOB_STATE_RE_QUEUEING": "queued",
    "JOB_STATE_COMPLETED": "succeeded",
    "JOB_STATE_EARLY_STOPPED": "succeeded",
    "JOB_STATE_FAILED": "failed",
    "JOB_STATE_EXPIRED": "failed",
    "JOB_STATE_CANCELLED": "cancelled",
}


class FireworksKind:
    name = "fireworks"
    label = "Fireworks AI"
    family = "fireworks"
    training_closes = None
    default_base_url = DEFAULT_ROOT
    reply_limit = "max_tokens"
    needs_key = True
    requires = ("account_id",)

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        return AsyncOpenAI(
            api_key=provider.key,
            base_url=f"{_root(provider.base_url)}/inference/v1",
            timeout=timeout_seconds,
            max_retries=2,
        )

    def trainer(self, provider: Provider, context: TrainerContext) -> FireworksTrainer:
        return FireworksTrainer(
            provider.api_key,
            _root(provider.base_url),
            provider.account_id or "",
            deployment=provider.deployment,
            timeout_seconds=context.timeout_seconds,
            name=provider.name,
            label=provider_label(self.label, provider),
        )


def _root(url: str | None) -> str:
    """The API's root, whichever of its addresses the configuration gave."""
    root = (url or DEFAULT_ROOT).rstrip("/")
    for suffix in ("/inference/v1", "/v1"):
        root = root.removesuffix(suffix)
    return root


class FireworksTrainer:
    training_closes = None
    supports_dpo = True  # `dpoJobs`, on OpenAI's preference JSONL

    def __init__(
        self,
        api_key: str,
        root: str,
        account_id: str,
        *,
        deployment: str | None = None,
        timeout_seconds: float = 60,
        name: str = "fireworks",
        label: str = "Fireworks AI",
        sleep=asyncio.sleep,
    ) -> None:
        self.name = name
        self.label = label
        self._account = f"accounts/{account_id}"
        self._api = f"{root}/v1/{self._account}"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._upload_timeout = aiohttp.ClientTimeout(total=None, sock_read=timeout_seconds)
        self._deployment = deployment
        self._sleep = sleep

    async def close(self) -> None:
        pass  # a session per request: nothing stays open

    # Files --------------------------------------------------------------------------------

    async def upload(self, path: Path, filename: str) -> str:
        dataset_id = _resource_id(f"{self.name}-{Path(filename).stem}-{uuid.uuid4().hex[:10]}")
        lines, size = await asyncio.to_thread(_count_lines, path)
        await self._request(
            "POST",
            "/datasets",
            "create the dataset",
            json={
                "datasetId": dataset_id,
                "dataset": {"userUploaded": {}, "exampleCount": str(lines), "format": "CHAT"},
            },
        )
        if size <= UPLOAD_LIMIT_BYTES:
            with path.open("rb") as file:
                # aiohttp sends an open file from disk a chunk at a time.
                form = aiohttp.FormData()
                form.add_field("file", file, filename=filename, content_type="application/jsonl")
                await self._request(
                    "POST", f"/datasets/{dataset_id}:upload", "upload the file", data=form
                )
        else:
            await self._upload_signed(dataset_id, path, filename, size)
        await self._wait_until_ready(dataset_id)
        return f"{self._account}/datasets/{dataset_id}"

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        return False  # a dataset is fixed once uploaded, and a job reads it at once

    async def delete_file(self, file_id: str) -> None:
        dataset_id = file_id.rsplit("/", 1)[-1]
        with contextlib.suppress(_NotFound):
            await self._request("DELETE", f"/datasets/{dataset_id}", "delete a dataset")

    async def _upload_signed(self, dataset_id: str, path: Path, filename: str, size: int) -> None:
        endpoint = await self._request(
            "POST",
            f"/datasets/{dataset_id}:getUploadEndpoint",
            "upload the file",
            json={"filenameToSize": {filename: str(size)}},
        )
        url = (endpoint.get("filenameToSignedUrls") or {}).get(filename)
        if not url:
            raise TrainerError(f"{self.label} gave no address to upload the file to.")
        try:
            with path.open("rb") as file:
                async with (
                    aiohttp.ClientSession(timeout=self._upload_timeout) as session,
                    session.put(url, data=file) as response,
                ):
                    status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            raise Unreachable(f"I couldn't upload the file to {self.label}; try again.") from error
        if status >= 400:
            raise TrainerError(f"{self.label} refused the file's upload (HTTP {status}).")
        await self._request(
            "POST", f"/datasets/{dataset_id}:validateUpload", "check the file", json={}
        )

    async def _wait_until_ready(self, dataset_id: str) -> None:
        for delay in (0, *READY_DELAYS):
            await self._sleep(delay)
            dataset = await self._request("GET", f"/datasets/{dataset_id}", "read the dataset")
            if dataset.get("state") == "READY":
                return
            status = dataset.get("status") or {}
            if status.get("code") not in (None, "OK", 0):
                reason = status.get("message") or status.get("code")
                raise FileRejected(f"{self.label} rejected the file: {reason}")
        raise TrainerError(f"{self.label} did not finish processing the file in time; try again.")

    # Jobs ---------------------------------------------------------------------------------

    async def create_job(self, spec: JobSpec) -> JobProgress:
        job_id = job_id_for(spec)
        collection, query = _collection(job_id)
        try:
            job = await self._request(
                "POST",
                f"/{collection}?{query}={job_id}",
                "start the job",
                json=_job_body(spec, job_id),
            )
        except _Conflict:
            # We created it before and never heard back: the id is ours, so this is that job.
            return await self.job(job_id)
        return _progress(job_id, job, self._account)

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        try:
            return await self.job(job_id_for(spec))
        except JobGone:
            return None

    async def job(self, job_id: str) -> JobProgress:
        collection, _ = _collection(job_id)
        try:
            job = await self._request("GET", f"/{collection}/{job_id}", "read the job")
        except _NotFound:
            raise JobGone(f"{self.label} no longer knows job `{job_id}`.") from None
        return _progress(job_id, job, self._account)

    async def cancel(self, job_id: str) -> None:
        collection, _ = _collection(job_id)
        await self._request("POST", f"/{collection}/{job_id}:cancel", "cancel the job", json={})

    # Serving ------------------------------------------------------------------------------

    async def serving_model(self, job: JobProgress) -> str:
        """Load the LoRA where Fireworks serves it and wait until it answers; its chat id."""
        model = output_model(job, self.label)
        where = {"deployment": self._deployment} if self._deployment else {"serverless": True}
        try:
            loaded = await self._request(
                "POST", "/deployedModels", "load the model", json={"model": model, **where}
            )
        except _Conflict:
            loaded = await self._loaded_copy(model)
        except TrainerError as error:
            if self._deployment or isinstance(error, Unreachable):
                raise
            # Nothing here loads a finished job's LoRA later (`use` only switches), so the
            # person loads it themselves; the setting serves the next jobs.
            raise TrainerError(
                f"{str(error).rstrip('.')}. Fireworks serves most tuned LoRAs only on a "
                f"dedicated deployment: load it onto one (`firectl load-lora {model} "
                f"--deployment <id>`), then `/finetune use {model} provider={self.name}`; "
                f'set `deployment = "{self._account}/deployments/<id>"` for this provider '
                "and the next jobs are loaded there by themselves."
            ) from None
        await self._wait_until_deployed(loaded)
        return f"{model}#{self._deployment}" if self._deployment else model

    async def _loaded_copy(self, model: str) -> dict[str, Any]:
        listing = await self._request("GET", "/deployedModels", "read the loaded models")
        for copy in listing.get("deployedModels") or []:
            if copy.get("model") == model:
                return copy
        raise TrainerError(f"{self.label} says `{model}` is loaded but does not list it.")

    async def _wait_until_deployed(self, loaded: dict[str, Any]) -> None:
        name = str(loaded.get("name", ""))
        path = "/deployedModels/" + name.rsplit("/", 1)[-1]
        for delay in (0, *READY_DELAYS):
            await self._sleep(delay)
            current = loaded if delay == 0 else await self._request("GET", path, "load the model")
            if current.get("state") == "DEPLOYED":
                return
        raise TrainerError(f"{self.label} did not finish loading the model in time.")

    # HTTP ---------------------------------------------------------------------------------

    async def _request(self, method: str, path: str, action: str, **kwargs: Any) -> dict:
        timeout = self._upload_timeout if "data" in kwargs else self._timeout
        try:
            async with (
                aiohttp.ClientSession(headers=self._headers, timeout=timeout) as session,
                session.request(method, self._api + path, **kwargs) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.warning("trainer: %s did not answer (%s)", self.label, type(error).__name__)
            raise Unreachable(f"I couldn't reach {self.label} to {action}; try again.") from error
        if status == 404:
            raise _NotFound(f"{self.label} could not find what it needed to {action}.")
        if status == 409:
            raise _Conflict(f"{self.label} says it exists already.")
        if status >= 500 or status == 429:
            logger.warning("trainer: %s could not %s (HTTP %s)", self.label, action, status)
            raise Unreachable(f"{self.label} could not {action} (HTTP {status}); try again later.")
        payload = json_object(text)
        if status >= 400 or payload is None:
            reason = error_message(payload) if status >= 400 else "its answer was not JSON"
            raise TrainerError(f"{self.label} refused to {action}: {reason}")
        return payload


class _NotFound(TrainerError):
    pass


class _Conflict(TrainerError):
    pass


def job_id_for(spec: JobSpec) -> str:
    """The job's id at Fireworks, made from our reference: the same spec, the same id."""
    base = _resource_id(f"{spec.bot}-{spec.ref.removeprefix('pending-')}")
    return _resource_id(DPO_PREFIX + base) if spec.method == "dpo" else base


def _collection(job_id: str) -> tuple[str, str]:
    if job_id.startswith(DPO_PREFIX):
        return "dpoJobs", "dpoJobId"
    return "supervisedFineTuningJobs", "supervisedFineTuningJobId"


def _job_body(spec: JobSpec, job_id: str) -> dict[str, Any]:
    training: dict[str, Any] = {
        "baseModel": spec.base_model,
        "outputModel": job_id,
        "epochs": spec.epochs,
    }
    common: dict[str, Any] = {
        "dataset": spec.training_file,
        "displayName": f"{spec.bot} {spec.suffix or 'fine-tune'}"[:60],
    }
    if spec.validation_file:
        common["evaluationDataset"] = spec.validation_file
    if spec.method == "dpo":
        loss: dict[str, Any] = {"method": "DPO"}
        if spec.beta is not None:
            loss["dpo"] = {"beta": spec.beta}
        return {**common, "trainingConfig": training, "lossConfig": loss}
    return {**common, **training}


def _progress(job_id: str, job: dict[str, Any], account: str) -> JobProgress:
    state = str(job.get("state") or "")
    status = _STATES.get(state, "running")
    config = job.get("trainingConfig") if isinstance(job.get("trainingConfig"), dict) else job
    output = config.get("outputModel") if isinstance(config, dict) else None
    if output and "/" not in output:
        output = f"{account}/models/{output}"
    error = None
    if status == "failed":
        error = (job.get("status") or {}).get("message") or "Fireworks gave no reason."
    progress = job.get("jobProgress") if isinstance(job.get("jobProgress"), dict) else {}
    percent = progress.get("percent")
    tokens = progress.get("inputTokens")
    return JobProgress(
        id=job_id,
        status=status,
        output_model=output if status == "succeeded" else None,
        trained_tokens=int(tokens) if str(tokens).isdigit() else None,
        error=error,
        # Fireworks reports a percentage, not steps: shown as "step N of 100".
        step=int(percent) if isinstance(percent, int | float) else None,
        total_steps=100 if isinstance(percent, int | float) else None,
    )


def _resource_id(text: str) -> str:
    """A Fireworks resource id: lower-case letters, digits and dashes, at most 63."""
    cleaned = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return cleaned[:63].rstrip("-") or "finetune"


def _count_lines(path: Path) -> tuple[int, int]:
    """Lines and bytes of the file."""
    with path.open("rb") as file:
        return sum(1 for line in file if line.strip()), path.stat().st_size
