"""A local fake of the Together AI endpoints the Together backend uses.

Files (`POST /v1/files/upload`, multipart), fine-tunes (create, list, retrieve, events,
cancel), the model list (`GET /v1/models`, a bare JSON array as Together answers, not OpenAI's
page) and OpenAI-compatible chat completions that answer with the model they were asked
for, so a test can see the tuned model serving. Statuses and fields follow Together's API
reference: jobs start "pending" and end "completed", "error" or "cancelled".
"""

from __future__ import annotations

import copy
import time
from typing import Any

from aiohttp import web

from tests.fakes._server import FakeServer, stream_chat_reply


class FakeTogether(FakeServer):
    def __init__(self, api_key: str = "tg-test") -> None:
        super().__init__()
        self.api_key = api_key
        self.files: dict[str, dict[str, Any]] = {}
        self.file_contents: dict[str, bytes] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.job_requests: list[dict[str, Any]] = []
        self.chat_requests: list[dict[str, Any]] = []
        self.served_models: set[str] = {"meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"}
        self._serial = 0
        self.app.middlewares.append(self._auth)
        route = self.app.router
        route.add_post("/v1/files/upload", self._upload)
        route.add_delete("/v1/files/{file_id}", self._delete_file)
        route.add_post("/v1/fine-tunes", self._create)
        route.add_get("/v1/fine-tunes", self._list)
        route.add_get("/v1/fine-tunes/{job_id}", self._retrieve)
        route.add_get("/v1/fine-tunes/{job_id}/events", self._list_events)
        route.add_post("/v1/fine-tunes/{job_id}/cancel", self._cancel)
        route.add_post("/v1/chat/completions", self._chat)
        route.add_get("/v1/models", self._models)

    @property
    def base_url(self) -> str:
        return f"{super().base_url}/v1"

    # ----- test-side API -------------------------------------------------

    def set_job(self, job_id: str, status: str, **fields: Any) -> None:
        job = self.jobs[job_id]
        job["status"] = status
        job.update(fields)
        if status == "completed":
            # Together serves a finished LoRA job under its output name.
            self.served_models.add(job["model_output_name"])

    def add_event(self, job_id: str, message: str) -> None:
        self.events[job_id].append(
            {"object": "fine-tune-event", "message": message, "created_at": _now(), "type": "info"}
        )

    def latest_job(self) -> dict[str, Any]:
        return copy.deepcopy(list(self.jobs.values())[-1])

    # ----- routes ----------------------------------------------------------

    @web.middleware
    async def _auth(self, request: web.Request, handler) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, "Invalid API key provided.")
        return await handler(request)

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            return _error(400, "file is required")
        if form.get("purpose") != "fine-tune" or not form.get("file_name"):
            return _error(400, "purpose and file_name are required")
        file_id = self._new_id("file")
        content = upload.file.read()
        self.file_contents[file_id] = content
        self.files[file_id] = {
            "id": file_id,
            "object": "file",
            "created_at": _now(),
            "filename": form["file_name"],
            "bytes": len(content),
            "purpose": "fine-tune",
            "Processed": True,
            "FileType": form.get("file_type", "jsonl"),
            "LineCount": content.count(b"\n"),
        }
        return web.json_response(self.files[file_id])

    async def _delete_file(self, request: web.Request) -> web.Response:
        # Together answers `{"id", "deleted"}`, as OpenAI does; an unknown id is a 404.
        file_id = request.match_info["file_id"]
        if self.files.pop(file_id, None) is None:
            return _error(404, f"File {file_id} not found")
        self.file_contents.pop(file_id, None)
        return web.json_response({"id": file_id, "deleted": True})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.job_requests.append(body)
        if body.get("training_file") not in self.files or not body.get("model"):
            return _error(400, "training_file and model must name an uploaded file and a model")
        job_id = self._new_id("ft")
        suffix = body.get("suffix") or "ft"
        self.jobs[job_id] = {
            "id": job_id,
            "status": "pending",
            "model": body["model"],
            "model_output_name": f"acct/{body['model'].split('/')[-1]}-{suffix}-{job_id[-6:]}",
            "training_file": body["training_file"],
            "validation_file": body.get("validation_file"),
            "n_epochs": body.get("n_epochs", 1),
            "lora": body.get("lora"),
            "suffix": body.get("suffix"),
            "token_count": None,
            "created_at": _now(),
        }
        self.events[job_id] = []
        self.add_event(job_id, "Fine tune request created")
        return web.json_response(self.jobs[job_id])

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response({"data": list(self.jobs.values())})

    async def _retrieve(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        return web.json_response(job) if job else _error(404, "Fine-tune job not found")

    async def _list_events(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return _error(404, "Fine-tune job not found")
        return web.json_response({"data": self.events[job_id]})

    async def _cancel(self, request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if job_id not in self.jobs:
            return _error(404, "Fine-tune job not found")
        self.set_job(job_id, "cancelled")
        return web.json_response(self.jobs[job_id])

    async def _models(self, request: web.Request) -> web.Response:
        cards = [
            {"id": model, "object": "model", "type": "chat", "created": _now()}
            for model in sorted(self.served_models)
        ]
        return web.json_response(cards)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.chat_requests.append(body)
        model = body.get("model")
        if model not in self.served_models:
            return _error(404, f"Unable to access model {model}.")
        if body.get("stream"):
            return await stream_chat_reply(
                request, f"chat-{len(self.chat_requests)}", model, f"Answer from {model}"
            )
        return web.json_response(
            {
                "id": f"chat-{len(self.chat_requests)}",
                "object": "chat.completion",
                "created": _now(),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Answer from {model}"},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    def _new_id(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}-{self._serial:06d}"


def _now() -> int:
    return int(time.time())


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "invalid_request_error"}}, status=status
    )
