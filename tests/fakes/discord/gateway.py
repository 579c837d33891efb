"""The gateway websocket: HELLO, IDENTIFY, RESUME with redelivery, heartbeats, intent-filtered
dispatch, INVALID SESSION, and the test-side controls that steer a session."""

from __future__ import annotations

import asyncio
import json
import secrets
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.discord.protocol import (
    DIRECT_MESSAGE_REACTIONS,
    DIRECT_MESSAGES,
    GUILD_MESSAGE_REACTIONS,
    GUILD_MESSAGES,
    GUILDS,
    MESSAGE_CONTENT,
    PRIVILEGED_INTENTS,
)


@dataclass(eq=False)  # compared and hashed by identity
class _Connection:
    ws: web.WebSocketResponse
    # zlib-stream shares one compressor for the whole connection.
    compressor: Any | None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass
class _Session:
    id: str
    intents: int
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    conn: _Connection | None = None
    # True once READY/RESUMED went out on `conn`; wait_connected waits for it.
    live: bool = False


class Gateway:
    """FakeDiscord's gateway sessions and the DISPATCH events it sends."""

    def _init_gateway(self) -> None:
        self.identify_intents: int | None = None
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.gateway_queries: list[dict[str, str]] = []
        self.gateway_ops: list[tuple[int, Any]] = []  # other ops the client sent
        self.redelivered: list[tuple[str, int]] = []  # (event, seq) re-sent on RESUME
        self._sessions: dict[str, _Session] = {}
        self._session: _Session | None = None
        self._connections: set[_Connection] = set()
        self._gateway_lock = asyncio.Lock()
        self._replay_on_resume = 0

    # ----- test-side API: sessions -----------------------------------------

    async def wait_connected(self, timeout: float = 5.0) -> str:
        """Wait until a session is live (READY or RESUMED sent); return its id."""

        def live() -> str | None:
            session = self._session
            return session.id if session is not None and session.live else None

        return await self.wait_for(live, timeout, what="live gateway session")

    async def force_resume(
        self, replay_last: int = 0, *, wait: bool = True, timeout: float = 5.0
    ) -> str | None:
        """Send RECONNECT (op 7); discord.py comes back with RESUME.

        On RESUME the fake re-sends every event after the client's seq plus the
        last `replay_last` events it had already delivered, with their original
        sequence numbers (Discord's at-least-once redelivery), then RESUMED.
        Events injected meanwhile are queued and delivered on RESUME.
        """
        async with self._gateway_lock:
            _, conn = self._detach_live_session()
            self._replay_on_resume = replay_last
        await self._send(conn, {"op": 7, "d": None, "s": None, "t": None})
        return await self.wait_connected(timeout) if wait else None

    async def invalidate_session(self, *, wait: bool = True, timeout: float = 5.0) -> str | None:
        """Send INVALID SESSION (op 9, d=false): the client must IDENTIFY again.

        discord.py's default `before_identify_hook` sleeps 5 s before any
        non-initial IDENTIFY; test clients should override it.
        """
        async with self._gateway_lock:
            session, conn = self._detach_live_session()
            self._sessions.pop(session.id, None)
            self._session = None
        await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
        return await self.wait_connected(timeout) if wait else None

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket abruptly; discord.py reconnects and RESUMEs."""
        async with self._gateway_lock:
            _, conn = self._detach_live_session()
        await conn.ws.close(code=code, message=b"fake dropped the connection")

    async def _close_connections(self) -> None:
        for conn in list(self._connections):
            # 1000 is a clean close; discord.py, if still running, reconnects.
            await conn.ws.close(code=1000, message=b"fake shutting down")

    # ----- the websocket -----------------------------------------------------

    async def _handle_gateway(self, request: web.Request) -> web.WebSocketResponse:
        # A short close timeout keeps stop() from hanging on a silent client.
        ws = web.WebSocketResponse(timeout=1.0, max_msg_size=0)
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        compress = request.query.get("compress") == "zlib-stream"
        conn = _Connection(ws, zlib.compressobj() if compress else None)
        self._connections.add(conn)
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fake"]}
            await self._send(conn, {"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    frame = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._on_gateway_frame(conn, frame)
        finally:
            self._connections.discard(conn)
            session = self._session
            if session is not None and session.conn is conn:
                session.conn, session.live = None, False
        return ws

    async def _on_gateway_frame(self, conn: _Connection, frame: dict[str, Any]) -> None:
        op, d = frame.get("op"), frame.get("d")
        if op == 1:
            self.heartbeats += 1
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:
            await self._identify(conn, d or {})
        elif op == 6:
            await self._resume(conn, d or {})
        else:
            self.gateway_ops.append((op, d))

    async def _identify(self, conn: _Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.bot_token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        intents = d.get("intents")
        if not isinstance(intents, int):
            await conn.ws.close(code=4013, message=b"Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents_enabled:
            await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        self.identify_intents = intents
        self.identifies += 1
        async with self._gateway_lock:
            session = _Session(id=secrets.token_hex(16), intents=intents, conn=conn)
            self._sessions[session.id] = session
            self._session = session
            await self._dispatch_locked(session, "READY", self._ready(session))
            for guild_id in list(self.guilds):
                await self._dispatch_locked(session, "GUILD_CREATE", self._guild_create(guild_id))
            session.live = True

    def _ready(self, session: _Session) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {
                **self.user(self.bot_user_id),
                "verified": True,
                "mfa_enabled": False,
                "flags": 0,
                "email": None,
            },
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 1 << 19},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ['["fake-discord-gateway",{"micros":0}]'],
        }

    async def _resume(self, conn: _Connection, d: dict[str, Any]) -> None:
        if d.get("token") != self.bot_token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        async with self._gateway_lock:
            session = self._sessions.get(d.get("session_id") or "")
            if session is None or session is not self._session:
                # An unknown or superseded session cannot be resumed.
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            seq = d.get("seq") or 0
            replay, self._replay_on_resume = self._replay_on_resume, 0
            resendable = [f for f in session.events if f["t"] not in ("READY", "RESUMED")]
            seen = [f for f in resendable if f["s"] <= seq]
            missed = [f for f in resendable if f["s"] > seq]
            session.conn = conn
            for frame in (seen[-replay:] if replay else []) + missed:
                self.redelivered.append((frame["t"], frame["s"]))
                await self._send(conn, frame)
            self.resumes += 1
            await self._dispatch_locked(session, "RESUMED", {"_trace": ["fake"]})
            session.live = True

    def _detach_live_session(self) -> tuple[_Session, _Connection]:
        session = self._session
        if session is None or session.conn is None or not session.live:
            raise RuntimeError("no live gateway session; await wait_connected() first")
        conn = session.conn
        # From here on events queue in the session log until RESUME.
        session.conn, session.live = None, False
        return session, conn

    async def _dispatch(self, event: str, data: dict[str, Any], *, wait: bool = True) -> None:
        """Send a DISPATCH to the current session (queued while it resumes).

        With `wait`, an injected event waits for a session to exist; the bot's
        own echoed events are dropped when nobody is connected, as on Discord.
        """
        if wait:
            await self.wait_for(lambda: self._session is not None, what="gateway session")
        async with self._gateway_lock:
            session = self._session
            if session is None or not _intents_allow(session.intents, event, data):
                return
            await self._dispatch_locked(session, event, self._without_content(session, event, data))

    async def _dispatch_locked(self, session: _Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.events.append(frame)
        if session.conn is not None:
            await self._send(session.conn, frame)

    async def _send(self, conn: _Connection, frame: dict[str, Any]) -> bool:
        text = json.dumps(frame)
        # The lock keeps zlib-stream chunks in the order they were compressed.
        async with conn.lock:
            if conn.ws.closed:
                return False
            try:
                if conn.compressor is None:
                    await conn.ws.send_str(text)
                else:
                    chunk = conn.compressor.compress(text.encode())
                    await conn.ws.send_bytes(chunk + conn.compressor.flush(zlib.Z_SYNC_FLUSH))
            except (ConnectionError, RuntimeError):
                # The event stays in the session log and is re-sent on RESUME.
                return False
        return True

    def _without_content(self, session: _Session, event: str, data: dict[str, Any]):
        if event not in ("MESSAGE_CREATE", "MESSAGE_UPDATE") or session.intents & MESSAGE_CONTENT:
            return data
        mentioned = any(int(u["id"]) == self.bot_user_id for u in data.get("mentions", []))
        if "guild_id" not in data or mentioned or int(data["author"]["id"]) == self.bot_user_id:
            return data
        return {**data, "content": "", "embeds": [], "attachments": [], "components": []}

    async def _echo(self, event: str, data: dict[str, Any]) -> None:
        if self.echo_bot_events:
            await self._dispatch(event, data, wait=False)


def _intents_allow(intents: int, event: str, data: dict[str, Any]) -> bool:
    in_guild = "guild_id" in data
    if event.startswith("MESSAGE_REACTION"):
        return bool(intents & (GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS))
    if event.startswith("MESSAGE_"):
        return bool(intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES))
    if event.startswith(("THREAD_", "GUILD_", "CHANNEL_")):
        return bool(intents & GUILDS)
    return True
