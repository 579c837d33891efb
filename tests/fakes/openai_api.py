"""A local fake of the parts of the OpenAI API the bot uses, recording everything.

Use it with `AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url)`; the
base URL already ends in `/v1`. Implemented: chat completions, files and
fine-tuning jobs (with events). Any other `/v1` URL answers 404 in OpenAI's
error format. Response shapes follow OpenAI's API reference closely enough
for the official SDK to parse them; ids are sequential so failures are easy
to read (`file-000001`, `ftjob-000002`, ...).

Run standalone with `python -m tests.fakes.openai_api --port N`.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes._server import FakeServer, run_standalone

TERMINAL_JOB_STATUSES = frozenset({"succeeded", "failed", "cancelled"})
DEFAULT_PAGE_SIZE = 20

# Where the recording middleware leaves the parsed JSON body for handlers.
JSON_BODY = web.RequestKey("json_body", object)

# Reply text for a chat request: fixed text or computed from the request JSON.
Reply = str | Callable[[dict[str, Any]], str | Awaitable[str]]

REFUSED_TRAINING_ERROR = {
    "message": "Fine-tuning is no longer available for this organization.",
    "type": "invalid_request_error",
    "code": "training_not_available",
    "param": None,
}

# What OpenAI typically says for each failure status, used by fail_chat().
DEFAULT_ERRORS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request.", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("You are not allowed to sample from this model.", "invalid_request_error", None),
    404: ("The model does not exist.", "invalid_request_error", "model_not_found"),
    429: ("Rate limit reached for requests.", "requests", "rate_limit_exceeded"),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    503: ("The engine is currently overloaded, please try again later.", "server_error", None),
}


@dataclass
class RecordedRequest:
    """Any HTTP request the fake received (JSON bodies are parsed)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None


@dataclass
class FileRecord:
    """An uploaded file; `status` turns "processed" after enough retrieves."""

    id: str
    filename: str
    purpose: str
    content: bytes
    status: str = "uploaded"
    created_at: int = 0
    retrievals: int = 0


@dataclass
class _ChatFault:
    status: int | str
    body: dict[str, Any] | str | None
    headers: dict[str, str] | None = None


class FakeOpenAI(FakeServer):
    """Fake OpenAI API; see the module docstring."""

    def __init__(self, api_key: str = "sk-test") -> None:
        super().__init__()
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []

        # Chat completions.
        self.chat_requests: list[dict[str, Any]] = []
        self.reply: Reply | None = None
        self.reply_delay = 0.0
        # Models that answer 404 (deleted, or never existed), as OpenAI does.
        self.missing_models: set[str] = set()
        self._chat_faults: deque[_ChatFault] = deque()
        # Streamed replies (`stream: true`): the text goes out in pieces of this many characters,
        # this many seconds apart. `break_stream` ends one stream after `break_stream_after`
        # pieces: "error" sends an error event (as OpenAI does), "drop" cuts the connection.
        self.stream_piece_chars = 8
        self.stream_piece_delay = 0.0
        self.break_stream: str | None = None
        self.break_stream_after = 2

        # Files.
        self.files: dict[str, FileRecord] = {}
        self.file_processing_polls = 0

        # Fine-tuning.
        self.job_requests: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.job_events: dict[str, list[dict[str, Any]]] = {}
        self.refuse_training = False
        # Models that GET /v1/models/{id} knows, besides the ft: models of succeeded jobs.
        self.models: set[str] = {"gpt-4.1-mini", "gpt-4.1-mini-2025-04-14", "gpt-4o-mini"}
        # `shutdown_date` per model in GET /v1/models (YYYY-MM-DD), as OpenAI announces them.
        self.shutdown_dates: dict[str, str] = {}
        self.file_not_ready_times = 0

        self._serial = 0
        self.app.middlewares.extend([self._record_middleware, self._auth_middleware])
        self._add_routes()

    def _add_routes(self) -> None:
        route = self.app.router
        route.add_post("/v1/chat/completions", self._chat_completions)
        route.add_post("/v1/files", self._create_file)
        route.add_get("/v1/files", self._list_files)
        route.add_get("/v1/files/{file_id}", self._retrieve_file)
        route.add_delete("/v1/files/{file_id}", self._delete_file)
        route.add_get("/v1/files/{file_id}/content", self._file_content)
        route.add_post("/v1/fine_tuning/jobs", self._create_job)
        route.add_get("/v1/fine_tuning/jobs", self._list_jobs)
        route.add_get("/v1/fine_tuning/jobs/{job_id}", self._retrieve_job)
        route.add_post("/v1/fine_tuning/jobs/{job_id}/cancel", self._cancel_job)
        route.add_get("/v1/fine_tuning/jobs/{job_id}/events", self._list_job_events)
        route.add_get("/v1/models", self._list_models)
        route.add_get("/v1/models/{model}", self._retrieve_model)
        route.add_route("*", "/v1/{tail:.*}", self._unknown_url)

    @property
    def base_url(self) -> str:
        """Value for the SDK's `base_url` (ends in `/v1`)."""
        return f"{super().base_url}/v1"

    # ----- test-side API -------------------------------------------------

    def fail_chat(
        self,
        status: int | str = 500,
        times: int = 1,
        body: dict[str, Any] | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next `times` chat calls fail.

        `status` is an HTTP status (answered with an OpenAI error JSON, or with
        `body` verbatim if given) or "malformed" for a 200 with broken JSON.
        `headers` are added to the failure, e.g. {"retry-after-ms": "10"}.
        """
        self._chat_faults.extend(_ChatFault(status, body, headers) for _ in range(times))

    def set_job(
        self,
        job_id: str,
        status: str | None = None,
        *,
        fine_tuned_model: str | None = None,
        trained_tokens: int | None = None,
        error: dict[str, Any] | str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Move a job along as OpenAI would; returns a copy of the job.

        Terminal states get `finished_at`; "succeeded" gets a realistic
        `fine_tuned_model` unless one is given; "failed" gets a generic error
        unless one is given. Extra keyword arguments overwrite job fields.
        """
        job = self._job_or_fail(job_id)
        if status is not None:
            job["status"] = status
            if status in TERMINAL_JOB_STATUSES and job["finished_at"] is None:
                job["finished_at"] = int(time.time())
            if status == "succeeded" and fine_tuned_model is None and not job["fine_tuned_model"]:
                fine_tuned_model = _fine_tuned_model_name(job)
            if status == "failed" and error is None and job["error"] is None:
                error = "Fine-tuning job failed."
        if fine_tuned_model is not None:
            job["fine_tuned_model"] = fine_tuned_model
        if trained_tokens is not None:
            job["trained_tokens"] = trained_tokens
        if isinstance(error, str):
            error = {"code": "fine_tune_failed", "message": error, "param": None}
        if error is not None:
            job["error"] = error
        job.update(fields)
        return copy.deepcopy(job)

    def add_job_event(
        self,
        job_id: str,
        message: str,
        level: str = "info",
        data: dict[str, Any] | None = None,
        type: str = "message",
    ) -> dict[str, Any]:
        """Append an event, e.g. type="metrics" with data {"step", "total_steps", "train_loss"}."""
        self._job_or_fail(job_id)
        event = {
            "object": "fine_tuning.job.event",
            "id": self._new_id("ftevent"),
            "created_at": int(time.time()),
            "level": level,
            "message": message,
            "data": data if data is not None else {},
            "type": type,
        }
        self.job_events[job_id].append(event)
        return copy.deepcopy(event)

    def forget_job(self, job_id: str) -> None:
        """Drop a job so later requests about it get 404 (as after data retention)."""
        self._job_or_fail(job_id)
        del self.jobs[job_id]
        del self.job_events[job_id]

    def shut_down(self, model: str) -> None:
        """The provider switched `model` off: chat with it answers 404 model_not_found."""
        self.missing_models.add(model)
        self.models.discard(model)

    def latest_job(self) -> dict[str, Any]:
        """A copy of the most recently created (and not forgotten) job."""
        if not self.jobs:
            raise AssertionError("no fine-tuning job exists on the fake")
        return copy.deepcopy(list(self.jobs.values())[-1])

    def _job_or_fail(self, job_id: str) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise AssertionError(f"unknown job {job_id}; jobs: {list(self.jobs)}")
        return self.jobs[job_id]

    def _new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial:06d}"

    # ----- middlewares ---------------------------------------------------

    @web.middleware
    async def _record_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        body, bad_json = None, False
        if request.content_type == "application/json" and request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                bad_json = True
        self.requests.append(
            RecordedRequest(
                request.method, request.path, dict(request.query), dict(request.headers), body
            )
        )
        # The SDK exposes this as `request_id` on errors, which helps debugging.
        request_id = f"req_{len(self.requests):06d}"
        if bad_json:
            response = _error(400, "We could not parse the JSON body of your request.")
        else:
            # Handlers read the parsed body from here; aiohttp caches the raw bytes.
            request[JSON_BODY] = body
            response = await handler(request)
        response.headers["x-request-id"] = request_id
        return response

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            # Never echo the key back: it may be a real one by mistake.
            return _error(
                401,
                "Incorrect API key provided.",
                code="invalid_api_key",
                type="invalid_request_error",
            )
        return await handler(request)

    # ----- chat ------------------------------------------------------------

    async def _chat_completions(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY] or {}
        self.chat_requests.append(body)
        # Reply n answers chat_requests[n - 1], failed attempts included.
        number = len(self.chat_requests)
        if self._chat_faults:
            fault = self._chat_faults.popleft()
            response = _fault_response(fault)
            response.headers.update(fault.headers or {})
            return response
        for param in ("model", "messages"):
            if not body.get(param):
                return _error(400, f"Missing required parameter: '{param}'.", param=param)
        if body["model"] in self.missing_models:
            return _error(
                404,
                f"The model `{body['model']}` does not exist or you do not have access to it.",
                code="model_not_found",
            )
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)

        content = await self._reply_text(body, number)
        if body.get("stream"):
            return await self._stream_reply(request, body, number, content)
        prompt_tokens = sum(_rough_tokens(m.get("content")) for m in body["messages"])
        completion_tokens = _rough_tokens(content)
        return web.json_response(
            {
                "id": f"chatcmpl-{number:06d}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content,
                            "refusal": None,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "system_fingerprint": "fp_fake",
                "service_tier": "default",
            }
        )

    async def _stream_reply(
        self, request: web.Request, body: dict[str, Any], number: int, content: str
    ) -> web.StreamResponse:
        """Server-sent events, one `chat.completion.chunk` per piece, then `[DONE]`."""
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        failure, self.break_stream = self.break_stream, None

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": f"chatcmpl-{number:06d}",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        await response.write(chunk({"role": "assistant", "content": ""}))
        step = self.stream_piece_chars
        for index, start in enumerate(range(0, len(content), step)):
            if failure and index == self.break_stream_after:
                if failure == "drop":
                    request.transport.close()
                    return response
                error = {"error": {"message": "The server had an error.", "type": "server_error"}}
                await response.write(f"data: {json.dumps(error)}\n\n".encode())
                return response
            await response.write(chunk({"content": content[start : start + step]}))
            if self.stream_piece_delay:
                await asyncio.sleep(self.stream_piece_delay)
        await response.write(chunk({}, "stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _reply_text(self, body: dict[str, Any], number: int) -> str:
        if self.reply is None:
            return f"Reply {number}"
        if isinstance(self.reply, str):
            return self.reply
        text = self.reply(body)
        return await text if inspect.isawaitable(text) else text

    # ----- files -----------------------------------------------------------

    async def _create_file(self, request: web.Request) -> web.Response:
        if request.content_type != "multipart/form-data":
            return _error(400, "Expected a multipart/form-data upload.")
        form = await request.post()
        upload, purpose = form.get("file"), form.get("purpose")
        if upload is None or isinstance(upload, str):
            return _error(400, "Missing required parameter: 'file'.", param="file")
        if not purpose:
            return _error(400, "Missing required parameter: 'purpose'.", param="purpose")
        record = FileRecord(
            id=self._new_id("file"),
            filename=upload.filename,
            purpose=str(purpose),
            content=upload.file.read(),
            created_at=int(time.time()),
        )
        self.files[record.id] = record
        return web.json_response(_file_object(record))

    async def _list_files(self, request: web.Request) -> web.Response:
        purpose = request.query.get("purpose")
        records = [f for f in self.files.values() if purpose in (None, f.purpose)]
        return web.json_response(_page([_file_object(f) for f in records], has_more=False))

    async def _retrieve_file(self, request: web.Request) -> web.Response:
        record = self.files.get(request.match_info["file_id"])
        if record is None:
            return _missing_file(request.match_info["file_id"])
        # Processing finishes after `file_processing_polls` earlier retrieves,
        # so polling code is exercised without any real waiting.
        if record.status == "uploaded" and record.retrievals >= self.file_processing_polls:
            record.status = "processed"
        record.retrievals += 1
        return web.json_response(_file_object(record))

    async def _delete_file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if self.files.pop(file_id, None) is None:
            return _missing_file(file_id)
        return web.json_response({"id": file_id, "object": "file", "deleted": True})

    async def _file_content(self, request: web.Request) -> web.Response:
        record = self.files.get(request.match_info["file_id"])
        if record is None:
            return _missing_file(request.match_info["file_id"])
        return web.Response(body=record.content, content_type="application/octet-stream")

    # ----- fine-tuning jobs ------------------------------------------------

    async def _create_job(self, request: web.Request) -> web.Response:
        body = request[JSON_BODY] or {}
        self.job_requests.append(body)
        if self.refuse_training:
            return web.json_response({"error": REFUSED_TRAINING_ERROR}, status=403)
        for param in ("model", "training_file"):
            if not body.get(param):
                return _error(400, f"Missing required parameter: '{param}'.", param=param)
        for param in ("training_file", "validation_file"):
            file_id = body.get(param)
            if file_id is not None and file_id not in self.files:
                return _error(400, f"invalid {param}: {file_id}", param=param, code="invalid_file")
        if self.file_not_ready_times > 0:
            self.file_not_ready_times -= 1
            return _error(
                400,
                f"File {body['training_file']} is not ready",
                param="training_file",
                code="file_not_ready",
            )
        if len(body.get("suffix") or "") > 64:
            return _error(400, "suffix must be at most 64 characters.", param="suffix")

        job = self._new_job(body)
        self.jobs[job["id"]] = job
        self.job_events[job["id"]] = []
        self.add_job_event(job["id"], f"Created fine-tuning job: {job['id']}")
        return web.json_response(job)

    def _new_job(self, body: dict[str, Any]) -> dict[str, Any]:
        method = body.get("method")
        requested = body.get("hyperparameters")
        if requested is None and method:
            requested = method.get(method.get("type"), {}).get("hyperparameters")
        hyperparameters = {
            "n_epochs": "auto",
            "batch_size": "auto",
            "learning_rate_multiplier": "auto",
            **(requested or {}),
        }
        job_id = self._new_id("ftjob")
        return {
            "object": "fine_tuning.job",
            "id": job_id,
            "model": body["model"],
            "created_at": int(time.time()),
            "finished_at": None,
            "fine_tuned_model": None,
            "organization_id": "org-fake",
            "result_files": [],
            "status": "validating_files",
            "validation_file": body.get("validation_file"),
            "training_file": body["training_file"],
            "hyperparameters": hyperparameters,
            "trained_tokens": None,
            "error": None,
            "seed": body.get("seed", self._serial),
            "estimated_finish": None,
            "integrations": body.get("integrations") or [],
            "metadata": body.get("metadata"),
            "method": method
            or {"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
            "user_provided_suffix": body.get("suffix"),
        }

    async def _list_jobs(self, request: web.Request) -> web.Response:
        jobs = [job for job in reversed(self.jobs.values()) if _metadata_matches(job, request)]
        return _paginated(jobs, request)

    async def _retrieve_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return _missing_job(job_id)
        return web.json_response(self.jobs[job_id])

    async def _cancel_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        job = self.jobs.get(job_id)
        if job is None:
            return _missing_job(job_id)
        if job["status"] in TERMINAL_JOB_STATUSES:
            return _error(400, f"Job {job_id} has already {job['status']} and cannot be cancelled.")
        self.set_job(job_id, "cancelled")
        return web.json_response(job)

    async def _list_job_events(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return _missing_job(job_id)
        return _paginated(list(reversed(self.job_events[job_id])), request)

    def _served_models(self) -> list[str]:
        tuned = {job.get("fine_tuned_model") for job in self.jobs.values()}
        return sorted((self.models | tuned) - self.missing_models - {None})

    def _model_card(self, model: str) -> dict[str, Any]:
        card = {"id": model, "object": "model", "created": 0, "owned_by": "fake-org"}
        # Fine-tunes shut down with their base (ft:<base>:org::id).
        base = model.split(":")[1] if model.startswith("ft:") else model
        card["shutdown_date"] = self.shutdown_dates.get(model, self.shutdown_dates.get(base))
        return card

    async def _list_models(self, request: web.Request) -> web.Response:
        cards = [self._model_card(model) for model in self._served_models()]
        return web.json_response({"object": "list", "data": cards})

    async def _retrieve_model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in self._served_models():
            return _error(404, f"The model '{model}' does not exist", code="model_not_found")
        return web.json_response(self._model_card(model))

    async def _unknown_url(self, request: web.Request) -> web.Response:
        return _error(404, f"Invalid URL ({request.method} {request.path})")


# ----- response helpers ------------------------------------------------------


def _error(
    status: int,
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
) -> web.Response:
    error = {"message": message, "type": type, "param": param, "code": code}
    return web.json_response({"error": error}, status=status)


def _fault_response(fault: _ChatFault) -> web.Response:
    if fault.status == "malformed":
        # Valid status and content type, truncated JSON: a flaky proxy.
        return web.Response(text='{"id": "chatcmpl-broken", "choi', content_type="application/json")
    status = int(fault.status)
    if isinstance(fault.body, str):
        return web.Response(status=status, text=fault.body)
    if fault.body is not None:
        return web.json_response(fault.body, status=status)
    message, error_type, code = DEFAULT_ERRORS.get(
        status, (f"Simulated HTTP {status} error.", "server_error", None)
    )
    return _error(status, message, type=error_type, code=code)


def _missing_file(file_id: str) -> web.Response:
    return _error(404, f"No such File object: {file_id}", param="id")


def _missing_job(job_id: str) -> web.Response:
    return _error(
        404,
        f"Fine-tuning job {job_id} not found.",
        param="fine_tuning_job_id",
        code="fine_tuning_job_not_found",
    )


def _file_object(record: FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "object": "file",
        "bytes": len(record.content),
        "created_at": record.created_at,
        "filename": record.filename,
        "purpose": record.purpose,
        "status": record.status,
        "expires_at": None,
        "status_details": None,
    }


def _page(items: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": has_more}


def _paginated(items: list[dict[str, Any]], request: web.Request) -> web.Response:
    """Apply OpenAI's cursor pagination: `after` is the last id already seen."""
    after = request.query.get("after")
    if after is not None:
        ids = [item["id"] for item in items]
        items = items[ids.index(after) + 1 :] if after in ids else []
    try:
        limit = int(request.query.get("limit", DEFAULT_PAGE_SIZE))
    except ValueError:
        return _error(400, "limit must be an integer.", param="limit")
    return web.json_response(_page(items[:limit], has_more=len(items) > limit))


def _metadata_matches(job: dict[str, Any], request: web.Request) -> bool:
    """Implement the `metadata[key]=value` (and `metadata=null`) list filter."""
    if request.query.get("metadata") == "null":
        return job["metadata"] is None
    wanted = {
        key[len("metadata[") : -1]: value
        for key, value in request.query.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    metadata = job["metadata"] or {}
    return all(metadata.get(key) == value for key, value in wanted.items())


def _fine_tuned_model_name(job: dict[str, Any]) -> str:
    # Real names look like "ft:gpt-4o-mini-2024-07-18:org-name:suffix:AbC123xy".
    suffix = job["user_provided_suffix"] or ""
    return f"ft:{job['model']}:fake-org:{suffix}:{job['id'].removeprefix('ftjob-')}"


def _rough_tokens(content: Any) -> int:
    """A stable stand-in for token counting: about one token per word."""
    if content is None:
        return 0
    text = content if isinstance(content, str) else json.dumps(content)
    return max(1, len(text.split()))


if __name__ == "__main__":
    run_standalone(FakeOpenAI, "Fake OpenAI API for tests")
