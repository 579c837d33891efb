"""REST plumbing: the route table, bot-token auth, request recording, injected faults (real
429s), Discord's JSON errors and exact `application/json` answers."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.discord.models import RecordedRequest
from tests.fakes.discord.protocol import API_PREFIX


class ApiError(Exception):
    """Raised by handlers; becomes Discord's JSON error body."""

    def __init__(self, status: int, message: str, code: int = 0, errors: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.errors = status, message, code, errors


def unknown(what: str, code: int) -> ApiError:
    return ApiError(404, f"Unknown {what}", code)


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    count: int
    retry_after: float | None
    global_: bool


class RestApi:
    """FakeDiscord's REST entry point: routing, auth, recording and faults."""

    def _init_rest(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self._faults: list[_Fault] = []
        self._routes = self._build_routes()

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        count: int = 1,
        retry_after: float | None = None,
        global_: bool = False,
    ) -> None:
        """Answer the next `count` matching REST calls with `status`.

        `path_regex` must fully match the path below the API root, e.g.
        r"/channels/\\d+/messages". A 429 is a real rate limit (Via header,
        retry_after, default 0.05 s), which discord.py sleeps out and retries;
        note that it also retries 500/502/504 on its own, after 1 s, 3 s, ...
        """
        pattern = re.compile(path_regex.removeprefix(API_PREFIX))
        self._faults.append(_Fault(method.upper(), pattern, status, count, retry_after, global_))

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any], bool]]:
        """(method, path pattern, handler, needs bot auth); interaction routes use the token."""
        c, m = r"(?P<channel>\d+)", r"(?P<message>\d+)"
        message = rf"/channels/{c}/messages/{m}"
        react = message + r"/reactions/(?P<emoji>[^/]+)/@me"
        commands = r"/applications/(?P<app>\d+)(?:/guilds/(?P<guild>\d+))?/commands"
        command = commands + r"/(?P<cmd>\d+)"
        hook = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        hook_message = hook + r"/messages/(?P<message>\d+|@original)"
        callback = r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback"
        table = [
            ("GET", r"/users/@me", self._get_me, True),
            ("GET", r"/users/(?P<user>\d+)", self._get_user, True),
            ("POST", r"/users/@me/channels", self._create_dm, True),
            ("GET", r"/oauth2/applications/@me", self._get_application, True),
            ("GET", r"/applications/@me", self._get_application, True),
            ("GET", r"/gateway", self._get_gateway, False),
            ("GET", r"/gateway/bot", self._get_gateway, True),
            ("GET", r"/guilds/(?P<guild>\d+)", self._get_guild, True),
            ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)", self._get_member, True),
            ("GET", rf"/channels/{c}", self._get_channel, True),
            ("GET", rf"/channels/{c}/messages", self._list_messages, True),
            ("POST", rf"/channels/{c}/messages", self._post_message, True),
            ("GET", message, self._get_channel_message, True),
            ("PATCH", message, self._patch_message, True),
            ("DELETE", message, self._delete_message, True),
            ("POST", rf"/channels/{c}/typing", self._typing, True),
            ("PUT", react, self._react_put, True),
            ("DELETE", react, self._react_delete, True),
            ("POST", message + "/threads", self._thread_from_message, True),
            ("POST", rf"/channels/{c}/threads", self._thread_without_message, True),
            ("GET", commands, self._get_commands, True),
            ("PUT", commands, self._put_commands, True),
            ("POST", commands, self._post_command, True),
            ("GET", command, self._get_command, True),
            ("DELETE", command, self._delete_command, True),
            ("POST", callback, self._callback, False),
            ("POST", hook, self._followup, False),
            ("GET", hook_message, self._get_hook_message, False),
            ("PATCH", hook_message, self._patch_hook_message, False),
            ("DELETE", hook_message, self._delete_hook_message, False),
        ]
        return [(method, re.compile(p), handler, auth) for method, p, handler, auth in table]

    async def _handle_api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        record = RecordedRequest(request.method, path, time.monotonic(), query=dict(request.query))
        self.requests.append(record)
        try:
            response = await self._route(request, path, record)
        except ApiError as err:
            body: dict[str, Any] = {"message": err.message, "code": err.code}
            if err.errors is not None:
                body["errors"] = err.errors
            response = json_response(body, err.status)
        record.status = response.status
        return response

    async def _route(self, request: web.Request, path: str, record: RecordedRequest):
        found = next(
            (
                (route, match)
                for route in self._routes
                if route[0] == request.method and (match := route[1].fullmatch(path))
            ),
            None,
        )
        if found is None:
            self.unknown_routes.append((request.method, path))
            raise ApiError(404, "404: Not Found")
        (_, pattern, handler, needs_auth), match = found
        if needs_auth and request.headers.get("Authorization") != f"Bot {self.bot_token}":
            raise ApiError(401, "401: Unauthorized")
        fault = self._take_fault(request.method, path)
        if fault is not None:
            return self._fault_response(fault, pattern.pattern)
        payload, files = await _read_body(request)
        record.json, record.files = payload, [name for name, _ in files.values()]
        return await handler(request, match, payload, files)

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.path.fullmatch(path):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def _fault_response(self, fault: _Fault, route: str) -> web.Response:
        if fault.status != 429:
            messages = {403: ("Missing Permissions", 50013), 404: ("404: Not Found", 0)}
            message, code = messages.get(fault.status, (f"{fault.status}: Fake Failure", 0))
            return json_response({"message": message, "code": code}, fault.status)
        retry = 0.05 if fault.retry_after is None else fault.retry_after
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry,
            "global": fault.global_,
        }
        # Without Via discord.py assumes a Cloudflare ban and gives up.
        headers = {"Via": "1.1 google", "Retry-After": str(max(1, math.ceil(retry)))}
        if fault.global_:
            headers.update({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"})
        else:
            headers.update(
                {
                    "X-RateLimit-Limit": "5",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry:.3f}",
                    "X-RateLimit-Reset-After": f"{retry:.3f}",
                    "X-RateLimit-Bucket": hashlib.sha1(route.encode()).hexdigest()[:32],
                    "X-RateLimit-Scope": "user",
                }
            )
        return json_response(body, 429, headers)


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    # body= (not text=) keeps aiohttp from appending "; charset=utf-8", which
    # would make discord.py treat the answer as plain text.
    return web.Response(
        body=json.dumps(payload).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


async def _read_body(request: web.Request) -> tuple[Any, dict[int, tuple[str, bytes]]]:
    """The JSON payload and files[n] parts (index -> (filename, bytes))."""
    files: dict[int, tuple[str, bytes]] = {}
    try:
        if request.content_type == "multipart/form-data":
            form = await request.post()
            raw = form.get("payload_json")
            payload = json.loads(raw) if isinstance(raw, str) else None
            for key, value in form.items():
                index = re.fullmatch(r"files\[(\d+)\]", key)
                if index and isinstance(value, web.FileField):
                    files[int(index[1])] = (value.filename, value.file.read())
            return payload, files
        text = await request.text() if request.can_read_body else ""
        return (json.loads(text) if text else None), files
    except ValueError:
        raise ApiError(400, "The request body contains invalid JSON.", 50109) from None
