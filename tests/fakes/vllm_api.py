"""A local fake of vLLM's OpenAI-compatible server with runtime LoRA adapters.

It serves one base model and any adapters loaded through vLLM's runtime API
(`POST /v1/load_lora_adapter`, which real vLLM exposes with
`VLLM_ALLOW_RUNTIME_LORA_UPDATING=True`). Chat completions answer for the base
model or a loaded adapter, naming the model they answered as; any other model
gets vLLM's 404. Error bodies follow vLLM's `{"error": {...}}` shape.

Run standalone with `python -m tests.fakes.vllm_api --port N`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes._server import FakeServer, run_standalone, stream_chat_reply


@dataclass
class LoadRequest:
    lora_name: str | None
    lora_path: str | None
    authorization: str | None


class FakeVLLM(FakeServer):
    """Fake vLLM; see the module docstring."""

    def __init__(
        self,
        base_model: str = "tiny-base",
        *,
        api_key: str | None = None,
        runtime_lora_updating: bool = True,
        check_paths: bool = True,
    ) -> None:
        super().__init__()
        self.base_model = base_model
        self.api_key = api_key  # like `vllm serve --api-key`; None accepts anything
        # False: the load route is missing, as when vLLM runs without the env var.
        self.runtime_lora_updating = runtime_lora_updating
        self.check_paths = check_paths  # refuse a path without adapter_config.json, like vLLM
        self.adapters: dict[str, str] = {}  # name -> path
        self.load_requests: list[LoadRequest] = []
        self.chat_requests: list[dict[str, Any]] = []
        self.app.middlewares.append(self._auth_middleware)
        if runtime_lora_updating:
            self.app.router.add_post("/v1/load_lora_adapter", self._load_adapter)
            self.app.router.add_post("/v1/unload_lora_adapter", self._unload_adapter)
        self.app.router.add_get("/v1/models", self._models)
        self.app.router.add_post("/v1/chat/completions", self._chat)

    @property
    def base_url(self) -> str:  # type: ignore[override]
        """The OpenAI-style base URL, ending in /v1 (what CHAT_BASE_URL is set to)."""
        return f"{super().base_url}/v1"

    @web.middleware
    async def _auth_middleware(self, request: web.Request, handler) -> web.StreamResponse:
        if self.api_key is not None and request.headers.get("Authorization") != (
            f"Bearer {self.api_key}"
        ):
            return _error(401, "Unauthorized", "Unauthorized")
        return await handler(request)

    async def _load_adapter(self, request: web.Request) -> web.Response:
        body = await request.json()
        name, path = body.get("lora_name"), body.get("lora_path")
        self.load_requests.append(LoadRequest(name, path, request.headers.get("Authorization")))
        if not name or not path:
            return _error(400, "Both 'lora_name' and 'lora_path' must be provided.")
        if name in self.adapters:
            return _error(400, f"The lora adapter '{name}' has already been loaded.")
        if self.check_paths and not (Path(path) / "adapter_config.json").is_file():
            message = f"Loading lora {name} failed: No adapter found for {path}"
            return _error(404, message, "NotFoundError")
        self.adapters[name] = path
        return web.Response(text=f"Success: LoRA adapter '{name}' added successfully.")

    async def _unload_adapter(self, request: web.Request) -> web.Response:
        name = (await request.json()).get("lora_name")
        if self.adapters.pop(name, None) is None:
            return _error(404, f"The lora adapter '{name}' cannot be found.", "NotFoundError")
        return web.Response(text=f"Success: LoRA adapter '{name}' removed successfully.")

    async def _models(self, request: web.Request) -> web.Response:
        cards = [{"id": self.base_model, "object": "model", "root": self.base_model}]
        cards += [
            {"id": name, "object": "model", "root": path, "parent": self.base_model}
            for name, path in self.adapters.items()
        ]
        return web.json_response({"object": "list", "data": cards})

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.chat_requests.append(body)
        model = body.get("model")
        if model != self.base_model and model not in self.adapters:
            return _error(404, f"The model `{model}` does not exist.", "NotFoundError")
        if body.get("stream"):
            return await stream_chat_reply(
                request, f"chatcmpl-{len(self.chat_requests):06d}", model, f"Reply from {model}"
            )
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.chat_requests):06d}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": f"Reply from {model}"},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
            }
        )


def _error(status: int, message: str, type: str = "BadRequestError") -> web.Response:
    error = {"message": message, "type": type, "param": None, "code": status}
    return web.json_response({"error": error}, status=status)


if __name__ == "__main__":
    run_standalone(FakeVLLM, "Fake vLLM server with runtime LoRA adapters, for tests")
