"""Fine-tuning from the chat: validate and price the dataset, upload it, start and cancel jobs.

Each step reports through a `JobReporter` that the platform adapter provides, so one status
message in the channel follows the job from upload to the swap.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import openai
from openai import AsyncOpenAI

from bot.config import Settings
from bot.dataset import training_lines
from bot.model_table import ModelTable
from bot.tokens import count_text
from bot.validation import DatasetReport, analyse_dataset
from bot.validation import split_holdout as split_ids
from storage.examples import ExampleStore
from storage.jobs import JobRecord, JobStore
from storage.schemas import content_id

logger = logging.getLogger(__name__)

# Seconds between job-creation attempts while OpenAI still says the file is not ready.
FILE_NOT_READY_DELAYS = (1, 2, 4, 8, 15, 30)
AUTO_HOLDOUT_MIN_EXAMPLES = 100
AUTO_HOLDOUT_FRACTION = 0.1
PENDING_LOCK_SECONDS = 3600

TRAINING_CLOSED = (
    "OpenAI no longer accepts new fine-tuning jobs for this organisation, so nothing was "
    "started or spent. Your examples are safe: `/finetune export` gives you the JSONL to train "
    "with another provider."
)


class JobReporter(Protocol):
    async def show_job(self, job: JobRecord) -> str | None:
        """Post the job's status message, or update it; return the message id."""

    async def announce(self, job: JobRecord, text: str) -> None:
        """Say something in the channel where the job was started."""


@dataclass(frozen=True)
class StartOptions:
    model: str
    epochs: int | None = None
    suffix: str | None = None
    holdout: float | None = None  # None: automatic (10% from 100 examples on)


class FineTuner:
    def __init__(
        self,
        settings: Settings,
        client: AsyncOpenAI,
        examples: ExampleStore,
        jobs: JobStore,
        table: ModelTable,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._client = client
        self._examples = examples
        self._jobs = jobs
        self._table = table
        self._sleep = sleep

    # Reading the dataset -----------------------------------------------------------------

    async def training_examples(self) -> list[dict[str, Any]]:
        """The dataset as fine-tuning lines, with TRAINING_SYSTEM_PROMPT when configured."""
        prompt = self._settings.training_system_prompt
        lines = []
        async for line in training_lines(self._examples):
            if prompt:
                for message in line["messages"]:
                    if message["role"] == "system":
                        message["content"] = prompt
            lines.append(line)
        return lines

    async def validate(self, model: str, epochs: int | None = None) -> DatasetReport:
        return analyse_dataset(await self.training_examples(), model, self._table, epochs)

    def prompt_tokens_saved(self, model: str) -> int:
        """Tokens each request saves when the tuned model runs on the shorter training prompt."""
        prompt = self._settings.training_system_prompt
        if not prompt:
            return 0
        return count_text(self._settings.system_prompt, model) - count_text(prompt, model)

    async def cancel(self) -> str:
        job_id = await self._jobs.active_job_id()
        if not job_id:
            return "No fine-tuning job is running."
        try:
            await self._client.fine_tuning.jobs.cancel(job_id)
        except openai.APIStatusError as error:
            return f"OpenAI did not cancel job `{job_id}`: {_short(error)}"
        logger.info("finetune: cancel requested for %s", job_id)
        return f"Asked OpenAI to cancel job `{job_id}`."

    # Starting ----------------------------------------------------------------------------

    async def start(
        self, options: StartOptions, user: str, channel: str, reporter: JobReporter
    ) -> str:
        """Start a job (the caller has checked the person is an admin); say what happened."""
        ref = f"pending-{uuid.uuid4().hex[:12]}"
        holder = await self._jobs.try_lock(ref, PENDING_LOCK_SECONDS)
        if holder is not None:
            return await self._already_running(holder)
        try:
            return await self._start_locked(ref, options, user, channel, reporter)
        except BaseException:
            await self._jobs.unlock(ref)
            raise

    async def _already_running(self, holder: str) -> str:
        job = await self._jobs.get(holder) if holder else None
        if job is None:
            return "Another fine-tuning job is being started right now; try `/finetune status`."
        return f"Job `{job.id}` is already {job.status} (started by <@{job.started_by}>)."

    async def _start_locked(
        self, ref: str, options: StartOptions, user: str, channel: str, reporter: JobReporter
    ) -> str:
        trainable: list[dict[str, Any]] = []
        report = analyse_dataset(
            await self.training_examples(), options.model, self._table, options.epochs, trainable
        )
        if not report.can_train:
            await self._jobs.unlock(ref)
            return report.refusal or "This dataset can't be trained."
        training, validation = self._split(trainable, options.holdout)

        job = JobRecord(
            id=ref,
            status="uploading",
            base_model=options.model,
            suffix=options.suffix,
            epochs=report.n_epochs,
            started_by=user,
            channel=channel,
            examples=len(training),
            tokens=report.tokens_total,
            billed_tokens=report.billed_tokens,
            estimated_cost_usd=report.estimated_cost_usd,
            system_prompt=self._settings.training_system_prompt,
            prompt_tokens_saved=self.prompt_tokens_saved(options.model),
            events=report.warnings[:3],
        )
        job.status_message_ts = await reporter.show_job(job)
        await self._jobs.save(job)

        try:
            provider_job = await self._upload_and_create(job, training, validation)
        except openai.PermissionDeniedError as error:
            if error.code != "training_not_available":
                raise
            return await self._give_up(job, ref, reporter, TRAINING_CLOSED)
        except FileRejected as error:
            return await self._give_up(job, ref, reporter, f"OpenAI rejected the file: {error}")
        except openai.APIStatusError as error:
            logger.warning("finetune: OpenAI refused the job (%s)", error.status_code)
            reason = f"OpenAI refused the job: {_short(error)}"
            return await self._give_up(job, ref, reporter, reason)
        except openai.APIError as error:
            logger.warning("finetune: could not reach OpenAI (%s)", type(error).__name__)
            reason = "I couldn't reach OpenAI to start the job; nothing is running. Try again."
            return await self._give_up(job, ref, reporter, reason)

        await self._jobs.rename_export(ref, provider_job.id)
        await self._jobs.delete(ref)
        job.id = provider_job.id
        job.status = provider_job.status
        await self._jobs.save(job)
        await self._jobs.hold_lock(job.id)
        await reporter.show_job(job)
        logger.info("finetune: started job %s on %s", job.id, job.base_model)
        return f"Started fine-tuning job `{job.id}`."

    def _split(
        self, examples: list[dict[str, Any]], holdout: float | None
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        if holdout is None:
            holdout = AUTO_HOLDOUT_FRACTION if len(examples) >= AUTO_HOLDOUT_MIN_EXAMPLES else 0
        if not holdout:
            return examples, []
        by_id = {_line_id(example): example for example in examples}
        training_ids, validation_ids = split_ids(sorted(by_id), holdout)
        return [by_id[i] for i in training_ids], [by_id[i] for i in validation_ids]

    async def _upload_and_create(
        self, job: JobRecord, training: list[dict], validation: list[dict]
    ) -> Any:
        training_bytes = _jsonl(training)
        job.export_sha256 = await self._jobs.save_export(job.id, "training", training_bytes)
        job.training_file = await self._upload(training_bytes, "training.jsonl")
        if validation:
            validation_bytes = _jsonl(validation)
            await self._jobs.save_export(job.id, "validation", validation_bytes)
            job.validation_file = await self._upload(validation_bytes, "validation.jsonl")
        job.status = "validating"
        await self._jobs.save(job)
        return await self._create_job(job)

    async def _upload(self, content: bytes, filename: str) -> str:
        # Bytes, not a stream: the SDK can only retry a body it can replay.
        uploaded = await self._client.files.create(file=(filename, content), purpose="fine-tune")
        processed = await self._client.files.wait_for_processing(uploaded.id, poll_interval=1.0)
        if processed.status == "error":
            raise FileRejected(processed.status_details or "the file was rejected")
        return uploaded.id

    async def _create_job(self, job: JobRecord) -> Any:
        hyperparameters: dict[str, Any] = {"n_epochs": job.epochs}
        delays = iter(FILE_NOT_READY_DELAYS)
        while True:
            try:
                return await self._client.fine_tuning.jobs.create(
                    model=job.base_model,
                    training_file=job.training_file,
                    validation_file=job.validation_file or openai.NOT_GIVEN,
                    suffix=job.suffix or openai.NOT_GIVEN,
                    method={
                        "type": "supervised",
                        "supervised": {"hyperparameters": hyperparameters},
                    },
                    metadata={
                        "bot": self._settings.redis_prefix,
                        "job_ref": job.id,
                        "dataset_sha256": job.export_sha256 or "",
                    },
                )
            except openai.BadRequestError as error:
                delay = next(delays, None)
                if delay is None or not _file_not_ready(error):
                    raise
                await self._sleep(delay)

    async def _give_up(self, job: JobRecord, ref: str, reporter: JobReporter, reason: str) -> str:
        job.status = "failed"
        job.error = reason
        await self._jobs.save(job)
        await self._jobs.unlock(ref)
        await reporter.show_job(job)
        return reason


class FileRejected(openai.OpenAIError):
    """OpenAI processed the upload and rejected it."""


def _jsonl(examples: list[dict[str, Any]]) -> bytes:
    return "".join(
        json.dumps(example, ensure_ascii=False, separators=(",", ":")) + "\n"
        for example in examples
    ).encode()


def _line_id(example: dict[str, Any]) -> str:
    return content_id(example["messages"])


def _file_not_ready(error: openai.BadRequestError) -> bool:
    return error.code == "file_not_ready" or "not ready" in str(error.message).lower()


def _short(error: openai.APIStatusError) -> str:
    body = error.body if isinstance(error.body, dict) else {}
    message = str(body.get("message") or error.message)
    return message[:200]
