"""A local fake of the Slack Web API that records every call.

Point slack_sdk at it with `AsyncWebClient(token=fake.bot_token, base_url=fake.api_url)`.
Only the methods the bot uses are implemented; any other method is recorded
and answered with `{"ok": false, "error": "unknown_method"}` (or whatever was
registered with `set_response`). Socket Mode is there in its smallest form:
`apps.connections.open` (with `app_token`) hands out a websocket URL whose
server says `hello` and then records what the client sends.

Beyond the call log, the fake keeps what a person in Slack would see: the
bot's messages (`messages`, including chat.*Stream streams), assistant thread
statuses, suggested prompts and App Home views. `not_joined` and `scopes`
model channel membership.

Slack reports API errors as HTTP 200 with `"ok": false`, and so does this fake,
including for injected `ratelimited` faults: the real API would answer 429 with
a Retry-After header, but slack_sdk's default client does not retry on 429, so
the simpler form exercises the same error-handling path in the bot.

Run standalone with `python -m tests.fakes.slack_api --port N`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes._server import FakeServer, run_standalone

# Fields that slack_sdk JSON-encodes when it sends form or query parameters.
JSON_ENCODED_FIELDS = frozenset(
    {
        "attachments",
        "blocks",
        "chunks",
        "files",
        "metadata",
        "prompts",
        "view",
        "user_auth_blocks",
        "unfurls",
    }
)

# A method's handler takes the merged params and returns the JSON payload.
Handler = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Call:
    """One request received by the fake."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    # What the fake answered (e.g. the `ts` of a posted message), once it has answered.
    response: dict[str, Any] | None = None
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class FakeMessage:
    """What a person in Slack sees of one message the bot posted."""

    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    thread_ts: str | None = None
    streaming: bool = False  # between chat.startStream and chat.stopStream
    recipient_user_id: str | None = None
    recipient_team_id: str | None = None


@dataclass
class Upload:
    """A file uploaded through files.getUploadURLExternal + completeUploadExternal."""

    file_id: str
    filename: str
    content: bytes
    channel_id: str | None
    initial_comment: str | None
    title: str | None
    thread_ts: str | None = None


@dataclass
class _ReservedFile:
    """State of a file between getUploadURLExternal and completeUploadExternal."""

    filename: str
    length: int
    content: bytes | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeSlack(FakeServer):
    """Fake Slack Web API; see the module docstring."""

    bot_user_id = "UBOT"
    bot_id = "BBOT"
    team_id = "T1"
    bot_token = "xoxb-test-token"
    app_token = "xapp-test-token"
    # The app's credentials for installing from a link (oauth.v2.access).
    client_id = "1111.2222"
    client_secret = "fake-client-secret"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[Call] = []
        self.uploads: list[Upload] = []
        self._faults: defaultdict[str, deque[tuple[str, int]]] = defaultdict(deque)
        self.sockets: list[web.WebSocketResponse] = []  # Socket Mode connections, open or not
        self.socket_messages: list[dict[str, Any]] = []  # what clients sent over them
        self._overrides: dict[str, dict[str, Any] | Handler] = {}
        self._reserved: dict[str, _ReservedFile] = {}
        self._serial = 0
        self.messages: dict[tuple[str, str], FakeMessage] = {}  # keyed by (channel, ts)
        self.statuses: dict[tuple[str, str], str] = {}  # current, by (channel_id, thread_ts)
        self.suggested_prompts: dict[str, dict[str, Any]] = {}  # by channel_id
        self.modals: dict[str, dict[str, Any]] = {}  # open modals by view id, as last drawn
        self.home_views: dict[str, dict[str, Any]] = {}  # latest published view, by user_id
        self.scopes: set[str] = {"chat:write"}
        # Agent apps (the default) have prompts ignored when sent with a thread_ts.
        self.agent_view = True
        self._not_joined: set[str] = set()
        # one-use install codes -> (the workspace allowing, the person who clicked "Allow")
        self._codes: dict[str, tuple[str, str]] = {}
        self.installed: dict[str, str] = {}  # bot tokens issued by installs -> their workspace
        self._calling_team = self.team_id
        self._calling_token: str | None = None
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "oauth.v2.access": self._oauth_v2_access,
            "auth.revoke": self._auth_revoke,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "assistant.threads.setStatus": self._assistant_set_status,
            "assistant.threads.setSuggestedPrompts": self._assistant_set_suggested_prompts,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/upload/{file_id}", self._handle_upload)
        self.app.router.add_post("/response/{name}", self._handle_response_url)
        self.app.router.add_get("/socket", self._handle_socket)

    # ----- test-side API -------------------------------------------------

    @property
    def api_url(self) -> str:
        """Value for slack_sdk's `base_url`; the trailing slash matters."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str = "cmd1") -> str:
        """A slash-command/interaction response_url whose POSTs are recorded."""
        return f"{self.base_url}/response/{name}"

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        # A plain timeout argument reads best in test assertions.
        timeout: float = 5.0,
    ) -> Call:
        """Return the first recorded call to `method` matching `predicate`.

        Polls because the bot answers Slack events in background tasks.
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for call in self.calls_to(method):
                if predicate is None or predicate(call):
                    return call
            if asyncio.get_running_loop().time() >= deadline:
                seen = [call.method for call in self.calls]
                raise AssertionError(
                    f"no matching {method} call within {timeout}s; calls so far: {seen}"
                )
            await asyncio.sleep(0.01)

    def fail_next(
        self, method: str, error: str = "ratelimited", times: int = 1, status: int = 200
    ) -> None:
        """Make the next `times` calls to `method` answer `{"ok": false, "error": error}`,
        with HTTP `status` (Slack's own errors come with 200; a 5xx is Slack being down).

        Also works for "response_url".
        """
        self._faults[method].extend([(error, status)] * times)

    @property
    def open_sockets(self) -> list[web.WebSocketResponse]:
        return [ws for ws in self.sockets if not ws.closed]

    def set_response(self, method: str, response: dict[str, Any] | Handler) -> None:
        """Answer `method` with a fixed payload or `response(params)` from now on.

        Lets a test stub a method this fake does not implement (e.g. users.info).
        """
        self._overrides[method] = response

    def message(self, channel: str, ts: str) -> FakeMessage:
        """The bot's message `ts` in `channel`, as Slack shows it now."""
        found = self.messages.get((channel, ts))
        if found is None:
            raise AssertionError(f"no bot message {ts} in {channel}; have {sorted(self.messages)}")
        return found

    def thread(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """The bot's messages in a thread (its parent included, if the bot's), oldest first."""
        found = [
            message
            for (message_channel, ts), message in self.messages.items()
            if message_channel == channel and thread_ts in (ts, message.thread_ts)
        ]
        return sorted(found, key=lambda message: float(message.ts))

    def status_history(self, channel_id: str, thread_ts: str) -> list[str]:
        """Every status the bot set in a thread, in order ("" is a clear)."""
        return [
            call.params["status"]
            for call in self.calls_to("assistant.threads.setStatus")
            if call.response is not None
            and call.response["ok"]
            and (call.params["channel_id"], call.params["thread_ts"]) == (channel_id, thread_ts)
        ]

    def expire_stream(self, channel: str, ts: str) -> None:
        """End a stream as Slack does an idle one: appends and stops then fail."""
        self.message(channel, ts).streaming = False

    def not_joined(self, channel: str) -> None:
        """Make the bot not a member of `channel`."""
        self._not_joined.add(channel)

    # ----- HTTP handlers -------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _read_params(request)
        call = Call(method, params, dict(request.headers))
        self.calls.append(call)

        token = _bearer_token(request, params)
        if method == "oauth.v2.access":
            call.response = self._oauth_v2_access(request, params)
            return web.json_response(call.response)
        if method == "apps.connections.open":
            if token != self.app_token:
                return _slack_error("invalid_auth")
        elif token != self.bot_token and token not in self.installed:
            return _slack_error("invalid_auth")
        # The workspace whose token calls (handlers below run without awaiting in between).
        self._calling_team = self.installed.get(token, self.team_id)
        self._calling_token = token
        if self._faults[method]:
            return _slack_error(*self._faults[method].popleft())

        override = self._overrides.get(method)
        if override is not None:
            payload = override(params) if callable(override) else override
            return web.json_response(payload)
        handler = self._handlers.get(method)
        if handler is None:
            return _slack_error("unknown_method")
        call.response = handler(params)
        return web.json_response(call.response)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        reserved = self._reserved.get(file_id)
        if reserved is None:
            return web.Response(status=404, text="file not found")
        reserved.content = await _read_upload_bytes(request)
        # Mirrors files.slack.com, whose text/plain body slack_sdk only logs.
        return web.Response(text=f"OK - {len(reserved.content)}")

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            # Keep bad payloads visible to the test instead of failing here.
            body = {"_raw": await request.text()}
        params = {**body, "_name": name}
        self.calls.append(Call("response_url", params, dict(request.headers)))
        if self._faults["response_url"]:
            return _slack_error(*self._faults["response_url"].popleft())
        return web.json_response({"ok": True})

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # answers the client's pings by itself
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": len(self.open_sockets)})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_messages.append(json.loads(message.data))
        return ws

    # ----- Slack methods -------------------------------------------------

    def _next_ts(self) -> str:
        # Real ts values are "seconds.micros"; a counter keeps them unique
        # and increasing, which is what threading and ordering rely on.
        self._serial += 1
        micros = 1_700_000_000_000_000 + self._serial * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    # ----- installing from a link ------------------------------------------------------

    def allow(self, team_id: str, user: str = "UINSTALLER") -> str:
        """`user` of workspace `team_id` clicks "Allow" on the install page: Slack sends their
        browser to the app's redirect with this one-use code."""
        code = f"code-{team_id}-{len(self._codes) + 1}"
        self._codes[code] = (team_id, user)
        return code

    def uninstall(self, team_id: str) -> None:
        """The workspace removes the app: its tokens stop working."""
        for token in [token for token, team in self.installed.items() if team == team_id]:
            del self.installed[token]

    def _oauth_v2_access(self, request: web.Request, params: dict[str, Any]) -> dict[str, Any]:
        credentials = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        given = (params.get("client_id"), params.get("client_secret"))
        if credentials != f"Basic {expected}" and given != (self.client_id, self.client_secret):
            return {"ok": False, "error": "invalid_client_id"}
        team, installer = self._codes.pop(params.get("code", ""), (None, None))
        if team is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{team}-{len(self.installed) + 1}"
        self.installed[token] = team
        return {
            "ok": True,
            "app_id": "A1",
            "access_token": token,
            "token_type": "bot",
            "scope": "app_mentions:read,chat:write",
            "bot_user_id": self.bot_user_id,
            "team": {"id": team, "name": f"Workspace {team}"},
            "enterprise": None,
            "authed_user": {"id": installer},
            "is_enterprise_install": False,
        }

    def _auth_revoke(self, params: dict[str, Any]) -> dict[str, Any]:
        self.installed.pop(self._calling_token, None)
        return {"ok": True, "revoked": True}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake-team.slack.com/",
            "team": "Fake Team",
            "user": "finetune-bot",
            "team_id": self._calling_team,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://{self.host}:{self.port}/socket"}

    def _bot_message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text", ""),
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "team": self.team_id,
            "ts": ts,
        }
        for key in ("thread_ts", "blocks", "attachments", "metadata"):
            if params.get(key) is not None:
                message[key] = params[key]
        return message

    def _cannot_post(self, channel: str) -> bool:
        # chat:write.public lets a bot post to public channels it has not joined.
        public_ok = channel.startswith("C") and "chat:write.public" in self.scopes
        return channel in self._not_joined and not public_ok

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not any(params.get(key) for key in ("text", "markdown_text", "blocks", "attachments")):
            return {"ok": False, "error": "no_text"}
        if self._cannot_post(channel):
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        thread_ts = params.get("thread_ts")
        self.messages[(channel, ts)] = FakeMessage(
            channel, ts, _message_text(params), params.get("blocks"), thread_ts
        )
        if thread_ts:
            self.statuses.pop((channel, thread_ts), None)  # a reply clears the thread's status
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": ts,
            "message": self._bot_message(params, ts),
        }

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("ts"):
            return {"ok": False, "error": "message_not_found"}
        if self._cannot_post(params["channel"]):
            return {"ok": False, "error": "not_in_channel"}
        # Any ts is accepted, so tests may update messages the fake never posted.
        key = (params["channel"], params["ts"])
        message = self.messages.setdefault(key, FakeMessage(*key))
        if "text" in params or "markdown_text" in params:
            message.text = _message_text(params)
        if "blocks" in params:  # as in Slack, omitted blocks are kept
            message.blocks = params["blocks"]
        return {
            "ok": True,
            "channel": params["channel"],
            "ts": params["ts"],
            "text": params.get("text", ""),
            "message": self._bot_message(params, params["ts"]),
        }

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _chat_start_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, thread_ts = params.get("channel"), params.get("thread_ts")
        if not channel or not thread_ts:
            return {"ok": False, "error": "invalid_arguments"}
        if not channel.startswith("D"):  # outside DMs Slack needs to know who reads along
            for key in ("recipient_user_id", "recipient_team_id"):
                if not params.get(key):
                    return {"ok": False, "error": f"missing_{key}"}
        if channel in self._not_joined:
            return {"ok": False, "error": "not_in_channel"}
        ts = self._next_ts()
        self.messages[(channel, ts)] = FakeMessage(
            channel,
            ts,
            _stream_text(params),
            thread_ts=thread_ts,
            streaming=True,
            recipient_user_id=params.get("recipient_user_id"),
            recipient_team_id=params.get("recipient_team_id"),
        )
        self.statuses.pop((channel, thread_ts), None)
        return {"ok": True, "channel": channel, "ts": ts}

    def _live_stream(self, params: dict[str, Any]) -> FakeMessage | dict[str, Any]:
        """The streaming message `params` name, or the error payload."""
        if not params.get("channel") or not params.get("ts"):
            return {"ok": False, "error": "invalid_arguments"}
        message = self.messages.get((params["channel"], params["ts"]))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if not message.streaming:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        return message

    def _chat_append_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._live_stream(params)
        if isinstance(message, dict):
            return message
        message.text += _stream_text(params)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_stop_stream(self, params: dict[str, Any]) -> dict[str, Any]:
        message = self._live_stream(params)
        if isinstance(message, dict):
            return message
        message.text += _stream_text(params)
        if params.get("blocks") is not None:
            message.blocks = params["blocks"]
        message.streaming = False
        shown = {"text": message.text, "blocks": message.blocks, "thread_ts": message.thread_ts}
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "message": self._bot_message(shown, message.ts),
        }

    def _assistant_set_status(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id, thread_ts = params.get("channel_id"), params.get("thread_ts")
        status = params.get("status")
        if not channel_id or not thread_ts or not isinstance(status, str):
            return {"ok": False, "error": "invalid_arguments"}
        if status:
            self.statuses[(channel_id, thread_ts)] = status
        else:
            self.statuses.pop((channel_id, thread_ts), None)
        return {"ok": True}

    def _assistant_set_suggested_prompts(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id, prompts = params.get("channel_id"), params.get("prompts")
        if not channel_id or not _valid_prompts(prompts):
            return {"ok": False, "error": "invalid_arguments"}
        # Slack: "Including [thread_ts] in a call for an agent app will cause the
        # call to silently fail."
        if params.get("thread_ts") and self.agent_view:
            return {"ok": True}
        self.suggested_prompts[channel_id] = {"title": params.get("title"), "prompts": prompts}
        return {"ok": True}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        # Slack refuses a trigger_id older than 3 s or used twice; the fake checks it is there.
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_arguments"}
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        view = {**view, "id": self._next_view_id()}
        self.modals[view["id"]] = view
        return {"ok": True, "view": view}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        if params.get("view_id") not in self.modals:
            return {"ok": False, "error": "not_found"}
        self.modals[params["view_id"]] = {**view, "id": params["view_id"]}
        return {"ok": True, "view": self.modals[params["view_id"]]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id, view = params.get("user_id"), params.get("view")
        if (
            not user_id
            or not isinstance(view, dict)
            or view.get("type") != "home"
            or not isinstance(view.get("blocks"), list)
        ):
            return {"ok": False, "error": "invalid_arguments"}
        self.home_views[user_id] = view
        return {"ok": True, "view": {**view, "id": self._next_view_id()}}

    def _next_view_id(self) -> str:
        return f"V{self._next_ts().replace('.', '')}"

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        info = {
            "id": channel,
            "is_member": channel not in self._not_joined,
            "is_private": channel.startswith("G"),
            "is_im": channel.startswith("D"),
        }
        return {"ok": True, "channel": info}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel"):
            return {"ok": True, "channel": {"id": params["channel"]}}
        users = [user for user in str(params.get("users", "")).split(",") if user]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        # A DM's id is derived from the user so tests can predict it.
        channel_id = "D" + users[0] if len(users) == 1 else "G" + "".join(users)
        return {"ok": True, "channel": {"id": channel_id}}

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        length = params.get("length")
        if not filename or length is None:
            return {"ok": False, "error": "invalid_arguments"}
        self._serial += 1
        file_id = f"F{self._serial:010d}"
        self._reserved[file_id] = _ReservedFile(filename, int(length))
        return {"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            return {"ok": False, "error": "invalid_arguments"}
        # Check everything first so a bad id does not half-complete the batch.
        for entry in entries:
            reserved = self._reserved.get(entry.get("id", ""))
            if reserved is None or reserved.content is None:
                return {"ok": False, "error": "file_not_found"}

        channel_id = params.get("channel_id")
        completed = []
        for entry in entries:
            reserved = self._reserved.pop(entry["id"])
            title = entry.get("title") or reserved.filename
            self.uploads.append(
                Upload(
                    file_id=entry["id"],
                    filename=reserved.filename,
                    content=reserved.content or b"",
                    channel_id=channel_id,
                    initial_comment=params.get("initial_comment"),
                    title=title,
                    thread_ts=params.get("thread_ts"),
                )
            )
            completed.append(
                {
                    "id": entry["id"],
                    "created": int(time.time()),
                    "name": reserved.filename,
                    "title": title,
                    "mimetype": "text/plain",
                    "filetype": "text",
                    "user": self.bot_user_id,
                    "size": len(reserved.content or b""),
                    "channels": [channel_id] if channel_id else [],
                }
            )
        return {"ok": True, "files": completed}


# ----- payload helpers -----------------------------------------------------


def _message_text(params: dict[str, Any]) -> str:
    return params.get("text") or params.get("markdown_text") or ""


def _stream_text(params: dict[str, Any]) -> str:
    """The text a chat.*Stream call adds: `markdown_text`, then markdown_text chunks."""
    chunks = params.get("chunks")
    texts = [
        chunk.get("text") or ""
        for chunk in (chunks if isinstance(chunks, list) else [])
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text"
    ]
    return (params.get("markdown_text") or "") + "".join(texts)


def _valid_prompts(prompts: Any) -> bool:
    """Slack takes 1 to 4 prompts, each with a title and a message."""
    return (
        isinstance(prompts, list)
        and 1 <= len(prompts) <= 4
        and all(
            isinstance(prompt, dict) and prompt.get("title") and prompt.get("message")
            for prompt in prompts
        )
    )


# ----- request parsing helpers ---------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query string, form fields and JSON body, as Slack does.

    slack_sdk sends many methods' arguments as query parameters even on POST,
    so all three sources matter.
    """
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else None
        if isinstance(body, dict):
            params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            params[key] = value if isinstance(value, str) else value.file.read()
    return {key: _decode_json_field(key, value) for key, value in params.items()}


def _decode_json_field(key: str, value: Any) -> Any:
    if key in JSON_ENCODED_FIELDS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


async def _read_upload_bytes(request: web.Request) -> bytes:
    """slack_sdk's async client posts raw bytes; others send multipart `file`."""
    if request.content_type != "multipart/form-data":
        return await request.read()
    form = await request.post()
    part = form.get("file")
    if part is None:
        # Fall back to the first part, whatever it is called.
        part = next(iter(form.values()), b"")
    if isinstance(part, str):
        return part.encode()
    if isinstance(part, bytes):
        return part
    return part.file.read()


def _bearer_token(request: web.Request, params: dict[str, Any]) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header.removeprefix("Bearer ")
    # Legacy clients may still pass the token as a parameter.
    return params.get("token")


def _slack_error(error: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


if __name__ == "__main__":
    run_standalone(FakeSlack, "Fake Slack Web API for tests")
