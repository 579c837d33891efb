"""The local GPU worker as a training backend: jobs go through Redis, adapters into vLLM.

The bot never trains here: it queues jobs on SAQ in Redis (storage/gpu_queue.py) for
separate `python -m worker` processes, reads their progress back, and when one succeeds loads
the LoRA adapter into the OpenAI-compatible server at CHAT_BASE_URL with vLLM's runtime LoRA
API. The adapter's name is then the `model` of chat requests. No torch import on this side.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
from openai import AsyncOpenAI
from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.providers.config import Provider
from bot.trainers.base import (
    JobGone,
    JobProgress,
    JobSpec,
    TrainerContext,
    TrainerError,
    Unreachable,
    provider_label,
)
from bot.trainers.openai_api import openai_client
from storage.gpu_queue import QUEUED, RUNNING, GpuQueue, LocalJob

logger = logging.getLogger(__name__)

EVENTS_SHOWN = 5
LOAD_TIMEOUT_SECONDS = 120  # vLLM reads the adapter from disk and warms it up
NO_WORKER = "No local worker is running; start one with `python -m worker`."
WORKER_GONE = "The worker training this job stopped answering; another worker will restart it."
CLUSTER_NEEDS_QUEUE = (
    "The local GPU workers' queue needs a plain Redis beside the cluster: set GPU_QUEUE_URL "
    "(and the workers' REDIS_URL) to it."
)

_REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class LocalKind:
    """The team's own GPU: `python -m worker` trains, the provider's vLLM serves the adapters."""

    name = "local"
    label = "the local GPU worker"
    family = "local"
    training_closes = None
    default_base_url = None  # the vLLM server's /v1
    reply_limit = "max_tokens"
    needs_key = False  # vLLM without --api-key takes any
    requires = ()

    def chat_client(self, provider: Provider, timeout_seconds: float) -> AsyncOpenAI:
        return openai_client(provider, timeout_seconds)

    def trainer(self, provider: Provider, context: TrainerContext) -> LocalTrainer:
        return LocalTrainer(
            GpuQueue(gpu_queue_client(context), context.keys.prefix),
            chat_base_url=provider.base_url or "",
            chat_api_key=provider.api_key,
            models_dir=provider.models_dir,
            name=provider.name,
            label=provider_label(self.label, provider),
        )


class LocalTrainer:
    training_closes = None
    supports_dpo = False  # the worker trains supervised LoRA only

    def __init__(
        self,
        queue: GpuQueue,
        *,
        chat_base_url: str,
        chat_api_key: str = "",
        models_dir: Path | None = None,
        load_timeout_seconds: float = LOAD_TIMEOUT_SECONDS,
        name: str = "local",
        label: str = "the local GPU worker",
    ) -> None:
        self.name = name
        self.label = label
        self._store = queue
        self._chat_base_url = chat_base_url.rstrip("/")
        self._chat_api_key = chat_api_key
        # Where the model server sees the worker's models directory. Only an absolute path
        # says anything: a relative one (the default) means the worker's own path works.
        self._models_dir = (
            models_dir if models_dir is not None and models_dir.is_absolute() else None
        )
        self._timeout = aiohttp.ClientTimeout(total=load_timeout_seconds)

    async def upload(self, path: Path, filename: str) -> str:
        # The core validated the dataset already; the worker reads these bytes as they are.
        # They go through Redis (the worker may run on another machine), so they are read
        # whole: the local worker trains datasets far smaller than a hosted API's.
        content = await asyncio.to_thread(path.read_bytes)
        try:
            return await self._store.save_file(content, filename)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not store the training file in Redis; try again.") from exc

    async def close(self) -> None:
        await self._store.close()

    async def replace_file(self, file_id: str, content: bytes) -> bool:
        # A worker reads the file when it takes the job: until then it can still change.
        try:
            return await self._store.replace_file(file_id, content)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not update the training file in Redis.") from exc

    async def delete_file(self, file_id: str) -> None:
        try:
            await self._store.delete_file(file_id)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not delete the training file in Redis.") from exc

    async def create_job(self, spec: JobSpec) -> JobProgress:
        fields = {
            "base_model": spec.base_model,
            "epochs": spec.epochs,
            "suffix": spec.suffix,
            "training_file": spec.training_file,
            "validation_file": spec.validation_file,
            "dataset_sha256": spec.dataset_sha256,
            "bot": spec.bot,
        }
        try:
            job = await self._store.create(spec.ref, fields)
            return await self._progress(job)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not queue the job in Redis; try again.") from exc

    async def find_job(self, spec: JobSpec) -> JobProgress | None:
        try:
            job = await self._store.find_by_ref(spec.ref)
            return await self._progress(job) if job else None
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not reach Redis to look the job up.") from exc

    async def job(self, job_id: str) -> JobProgress:
        try:
            job = await self._store.get(job_id)
            if job is None:
                raise JobGone(f"The local job {job_id} is no longer in Redis.")
            return await self._progress(job)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not reach Redis to read the job.") from exc

    async def cancel(self, job_id: str) -> None:
        try:
            outcome = await self._store.cancel(job_id)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not reach Redis to cancel the job.") from exc
        if outcome == "gone":
            raise JobGone(f"The local job {job_id} is no longer in Redis.")

    async def serving_model(self, job: JobProgress) -> str:
        """Load the adapter into the model server; its name is the chat `model` from now on."""
        try:
            stored = await self._store.get(job.id)
        except _REDIS_DOWN as exc:
            raise Unreachable("Could not reach Redis to read the job.") from exc
        name = job.output_model or (stored.output_model if stored else None)
        if stored is None or not name or not stored.adapter_path:
            raise TrainerError(f"The local job {job.id} has no adapter to serve.")
        path = str(self._models_dir / name) if self._models_dir else stored.adapter_path
        await self._load_adapter(name, path, stored.base_model)
        return name

    async def _load_adapter(self, name: str, path: str, base_model: str) -> None:
        how = (
            f"The adapter is at {path}: serve it with `vllm serve {base_model} --enable-lora "
            f"--lora-modules {name}={path}`, or start vLLM with "
            "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True so the bot can load it."
        )
        url = f"{self._chat_base_url}/load_lora_adapter"
        headers = {"Authorization": f"Bearer {self._chat_api_key}"} if self._chat_api_key else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(
                    url, json={"lora_name": name, "lora_path": path}, headers=headers
                ) as response,
            ):
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("local: loading adapter %s into %s failed: %r", name, url, exc)
            raise TrainerError(f"The model server did not answer. {how}") from exc
        if status == 200 or _already_loaded(text):
            logger.info("local: adapter %s loaded from %s", name, path)
            return
        logger.warning("local: loading adapter %s answered %s: %s", name, status, text[:300])
        raise TrainerError(f"The model server refused the adapter (HTTP {status}). {how}")

    async def _progress(self, job: LocalJob) -> JobProgress:
        events = await self._store.events(job.id, EVENTS_SHOWN)
        note = await self._waiting_note(job)
        if note:
            events = [note, *events]
        return JobProgress(
            id=job.id,
            status=job.status,
            output_model=job.output_model,
            trained_tokens=job.trained_tokens,
            error=job.error,
            events=events,
            step=job.step,
            total_steps=job.total_steps,
            train_loss=job.train_loss,
        )

    async def _waiting_note(self, job: LocalJob) -> str | None:
        """Say what the job waits for: no worker alive to take or finish it, or a worker
        that died and left it to the next one."""
        if job.status not in (QUEUED, RUNNING):
            return None
        live = await self._store.live_workers()
        if job.status == QUEUED and not live:
            return NO_WORKER
        if job.status == RUNNING and job.worker not in live:
            return WORKER_GONE
        if job.status == QUEUED and job.attempts:
            return f"Worker {job.worker} stopped answering; the job is queued again."
        return None


def gpu_queue_client(context: TrainerContext) -> Redis:
    """A client for the GPU queue: GPU_QUEUE_URL, or the bot's own Redis. It does not decode
    responses, since SAQ reads bytes."""
    if context.gpu_queue_url:
        return Redis.from_url(context.gpu_queue_url, socket_connect_timeout=5)
    if isinstance(context.redis, RedisCluster):
        raise TrainerError(CLUSTER_NEEDS_QUEUE)
    pool = context.redis.connection_pool
    options = {**pool.connection_kwargs, "decode_responses": False}
    return Redis(connection_pool=ConnectionPool(connection_class=pool.connection_class, **options))


def _already_loaded(body: str) -> bool:
    # vLLM answers 400 "The lora adapter 'x' has already been loaded." for a repeat load.
    text = body.lower()
    return "already" in text and "loaded" in text
