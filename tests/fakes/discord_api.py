"""A local fake of Discord's REST API and gateway that the real discord.py talks to.

Point discord.py at it once, before creating the client:

    discord.http.Route.BASE = fake.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)

The fake owns one guild with a text channel and a public thread, the bot's user
and application, and whatever users tests invent. Everything the bot does over
REST (messages, edits, typing, reactions, DMs, threads, command syncs,
interaction callbacks and followups) is recorded with `time.monotonic()`
timestamps; tests inject gateway events (messages, reactions, slash commands,
autocomplete) and steer the session (RECONNECT/RESUME with redelivery, INVALID
SESSION). Unknown REST routes are recorded and answered 404.

Like the real Discord, and unlike a plain mock:
  * REST answers carry `Content-Type: application/json` exactly: discord.py
    decodes a body only for that exact header (aiohttp's `json_response`, and
    even `web.Response(text=..., content_type=...)`, append `; charset=utf-8`).
  * A 429 carries a `Via` header, a JSON body with `retry_after` and
    X-RateLimit-* headers; without `Via` discord.py takes it for a Cloudflare
    ban and raises instead of retrying. Successful answers send no rate-limit
    headers, so discord.py never throttles itself against the fake.
  * The bot's own messages, edits and reactions come back over the gateway
    (MESSAGE_CREATE etc.), so a bot that does not ignore itself loops here too;
    ephemeral interaction messages never do. Set `echo_bot_events = False` to
    turn that off.
  * Events are filtered by the intents the client identified with, message
    content is blanked without the MESSAGE_CONTENT intent (except DMs, mentions
    and the bot's own messages), and a privileged intent that is not in
    `privileged_intents_enabled` closes the gateway with 4014.
  * Interaction tokens need no Authorization header; an interaction must be
    answered within `callback_deadline` seconds and only once, and the first
    followup after a deferral replaces the "thinking" message (keeping the
    deferral's ephemerality), as Discord does.
  * Messages over 2000 characters, empty messages and replies to unknown
    messages are refused with Discord's 400 errors.

Gateway frames are zlib-stream compressed when the client asks for it (it
does unless `zstandard` is installed, in which case it asks for zstd-stream and
the fake answers with plain text frames, which discord.py also accepts).

Run standalone with `python -m tests.fakes.discord_api --port N`.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import json
import math
import mimetypes
import re
import secrets
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import WSMsgType, web

from tests.fakes._server import FakeServer, run_standalone

T = TypeVar("T")

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Gateway intents (https://discord.com/developers/docs/events/gateway#gateway-intents).
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT

# Permission bits used by the fake's roles.
EVERYONE_PERMISSIONS = (
    (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = (1 << 13) | (1 << 34)  # MANAGE_MESSAGES, MANAGE_THREADS

EPHEMERAL = 1 << 6
LOADING = 1 << 7
HAS_THREAD = 1 << 5
MAX_CONTENT = 2000

# Message types.
DEFAULT, REPLY, CHAT_INPUT_COMMAND = 0, 19, 20
# Interaction callback types.
CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE, UPDATE_MESSAGE = 4, 5, 6, 7
AUTOCOMPLETE_RESULT = 8

# Callback types Discord accepts per interaction type (2 command, 3 component,
# 4 autocomplete, 5 modal submit).
_CALLBACK_TYPES_FOR = {2: {4, 5, 9, 12}, 3: {4, 5, 6, 7, 9, 12}, 4: {8}, 5: {4, 5, 6, 7}}

# Option types inferred from Python values when the command was never synced.
_OPTION_TYPES: tuple[tuple[type, int], ...] = ((bool, 5), (int, 4), (float, 10), (str, 3))
_MENTION = re.compile(r"<@!?(\d+)>")


# ----- recorded state --------------------------------------------------------


@dataclass
class RecordedRequest:
    """One REST request; `path` is relative to the API root (e.g. /channels/1/messages)."""

    method: str
    path: str
    at: float
    status: int | None = None
    query: dict[str, str] = field(default_factory=dict)
    json: Any = None
    files: list[str] = field(default_factory=list)


@dataclass
class Attachment:
    id: int
    filename: str
    content: bytes
    content_type: str
    description: str | None = None


@dataclass
class StoredMessage:
    """A message as the fake holds it; `edits` starts with the creation."""

    id: int
    channel_id: int
    guild_id: int | None
    author: dict[str, Any]
    content: str
    embeds: list[dict[str, Any]]
    attachments: list[Attachment]
    flags: int
    type: int
    message_reference: dict[str, Any] | None
    edits: list[tuple[float, str]]
    created_at: datetime.datetime
    mentions: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    webhook_id: int | None = None
    interaction_id: int | None = None
    nonce: str | int | None = None
    edited_at: datetime.datetime | None = None
    deleted: bool = False
    thread_id: int | None = None
    # emoji key ("👍" or "name:id") -> (emoji payload, user ids who reacted)
    reactions: dict[str, tuple[dict[str, Any], set[int]]] = field(default_factory=dict)

    @property
    def author_id(self) -> int:
        return int(self.author["id"])

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)

    @property
    def reply_to(self) -> int | None:
        """Id of the message this one replies to, if any."""
        ref = self.message_reference
        return int(ref["message_id"]) if ref and ref.get("message_id") else None


@dataclass
class TypingCall:
    channel_id: int
    at: float


@dataclass
class BotReaction:
    """A reaction the bot added (PUT) or removed (DELETE) over REST."""

    channel_id: int
    message_id: int
    emoji: str
    added: bool
    at: float


@dataclass
class CommandSync:
    """One bulk overwrite (PUT) of application commands; guild_id None = global."""

    guild_id: int | None
    commands: list[dict[str, Any]]
    at: float


@dataclass
class InteractionCallback:
    interaction_id: int
    token: str
    type: int
    data: dict[str, Any]
    files: list[tuple[str, bytes]]
    at: float


@dataclass
class Followup:
    """A followup message; `replaced_original` when it filled a deferred response."""

    interaction_id: int
    token: str
    message_id: int
    content: str
    flags: int
    embeds: list[dict[str, Any]]
    files: list[tuple[str, bytes]]
    at: float
    replaced_original: bool = False

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & EPHEMERAL)


@dataclass
class Invocation:
    """An injected interaction; pass it (or its id) to the *_of helpers."""

    id: int
    token: str
    payload: dict[str, Any]


@dataclass
class _Interaction:
    id: int
    token: str
    type: int
    channel_id: int
    guild_id: int | None
    user: dict[str, Any]
    name: str
    created: float
    message_id: int | None = None  # the message a component sits on
    acked: int | None = None
    original_id: int | None = None
    message_ids: list[int] = field(default_factory=list)


@dataclass
class _Fault:
    method: str
    path: re.Pattern[str]
    status: int
    count: int
    retry_after: float | None
    global_: bool


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


class ApiError(Exception):
    """Raised by handlers; becomes Discord's JSON error body."""

    def __init__(self, status: int, message: str, code: int = 0, errors: Any = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.errors = status, message, code, errors


def _unknown(what: str, code: int) -> ApiError:
    return ApiError(404, f"Unknown {what}", code)


class FakeDiscord(FakeServer):
    """Fake Discord REST API + gateway; see the module docstring."""

    bot_user_id = 1_200_000_000_000_000_001
    application_id = 1_200_000_000_000_000_002
    guild_id = 1_200_000_000_000_000_010
    channel_id = 1_200_000_000_000_000_020
    thread_id = 1_200_000_000_000_000_030
    owner_id = 1_200_000_000_000_000_040
    bot_role_id = 1_200_000_000_000_000_050
    bot_name = "finetune-bot"
    bot_token = "fake-discord-bot-token"

    def __init__(self, *, heartbeat_interval_ms: int = 41_250) -> None:
        super().__init__()
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.echo_bot_events = True
        self.privileged_intents_enabled = MESSAGE_CONTENT
        # Discord drops an interaction not answered within 3 s; None disables.
        self.callback_deadline: float | None = 3.0

        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.messages: dict[int, StoredMessage] = {}
        self.typing_calls: list[TypingCall] = []
        self.bot_reactions: list[BotReaction] = []
        self.command_syncs: list[CommandSync] = []
        self.interaction_callbacks: list[InteractionCallback] = []
        self.followups: list[Followup] = []
        self.identify_intents: int | None = None
        self.identifies = 0
        self.resumes = 0
        self.heartbeats = 0
        self.gateway_queries: list[dict[str, str]] = []
        self.gateway_ops: list[tuple[int, Any]] = []  # other ops the client sent
        self.redelivered: list[tuple[str, int]] = []  # (event, seq) re-sent on RESUME

        self.users: dict[int, dict[str, Any]] = {}
        self.member_permissions: dict[int, int] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self._dm_channels: dict[int, int] = {}
        self._commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self._interactions: dict[int, _Interaction] = {}
        self._faults: list[_Fault] = []
        self._last_snowflake = 0
        self._sessions: dict[str, _Session] = {}
        self._session: _Session | None = None
        self._connections: set[_Connection] = set()
        self._gateway_lock = asyncio.Lock()
        self._replay_on_resume = 0
        self._created = _utcnow()

        self.user(self.bot_user_id, self.bot_name, bot=True)
        self.user(self.owner_id, "owner")
        self.channels[self.channel_id] = self._text_channel(self.channel_id, "general")
        self.channels[self.thread_id] = self._thread_channel(
            self.thread_id, "bot-thread", self.channel_id, self.owner_id, 11
        )
        self._routes = self._build_routes()
        self.app.router.add_get("/gateway", self._handle_gateway)
        self.app.router.add_get("/attachments/{channel}/{attachment}/{filename}", self._handle_cdn)
        self.app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_api)

    # ----- test-side API: identity -----------------------------------------

    @property
    def api_url(self) -> str:
        """Value for `discord.http.Route.BASE`."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for `DiscordWebSocket.DEFAULT_GATEWAY` (wrap it in yarl.URL)."""
        return f"ws://{self.host}:{self.port}/gateway"

    def new_id(self) -> int:
        """A fresh snowflake: current time in the high bits, always increasing."""
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last_snowflake = max(now_ms << 22, self._last_snowflake + 1)
        return self._last_snowflake

    def user(self, user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
        """The user object for `user_id`, created (and made a guild member) on first use."""
        known = self.users.get(user_id)
        if known is None or name is not None or bot:
            bot = bot or bool(known and known.get("bot"))
            name = name or (known["username"] if known else f"user{user_id % 10_000}")
            known = {
                "id": str(user_id),
                "username": name,
                "discriminator": "0",
                "global_name": name,
                "avatar": None,
                "public_flags": 0,
            }
            if bot:
                known["bot"] = True
            self.users[user_id] = known
        return dict(known)

    def set_permissions(self, user_id: int, permissions: int) -> None:
        """Default channel permissions of a member in injected interactions."""
        self.user(user_id)
        self.member_permissions[user_id] = permissions

    def member(self, user_id: int, *, with_user: bool = True) -> dict[str, Any]:
        """The guild member object for `user_id` (interactions add `permissions`)."""
        roles = [str(self.bot_role_id)] if user_id == self.bot_user_id else []
        member: dict[str, Any] = {
            "roles": roles,
            "joined_at": _iso(self._created),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "nick": None,
            "avatar": None,
            "communication_disabled_until": None,
        }
        if with_user:
            member["user"] = self.user(user_id)
        return member

    def dm_channel_id(self, user_id: int) -> int:
        """The DM channel between the bot and `user_id` (created on first use)."""
        if user_id not in self._dm_channels:
            channel_id = self.new_id()
            self._dm_channels[user_id] = channel_id
            self.channels[channel_id] = {
                "id": str(channel_id),
                "type": 1,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.user(user_id)],
            }
        return self._dm_channels[user_id]

    async def create_thread(
        self, name: str, *, parent_id: int | None = None, owner_id: int | None = None
    ) -> int:
        """Add a public thread (dispatching THREAD_CREATE when a client is connected)."""
        thread_id = self.new_id()
        parent_id = parent_id or self.channel_id
        thread = self._thread_channel(thread_id, name, parent_id, owner_id or self.owner_id, 11)
        self.channels[thread_id] = thread
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True}, wait=False)
        return thread_id

    # ----- test-side API: reading recorded state ---------------------------

    def get_message(self, message_id: int) -> StoredMessage:
        try:
            return self.messages[message_id]
        except KeyError:
            raise AssertionError(f"no message {message_id} in the fake") from None

    def messages_in(self, channel_id: int, *, include_deleted: bool = False) -> list[StoredMessage]:
        """Every message in the channel, oldest first (ephemeral ones included)."""
        return [
            m
            for m in self.messages.values()
            if m.channel_id == channel_id and (include_deleted or not m.deleted)
        ]

    def bot_messages(
        self, channel_id: int | None = None, *, ephemeral: bool | None = None
    ) -> list[StoredMessage]:
        """Messages by the bot (REST and interaction responses), oldest first.

        `ephemeral=False` keeps only what everyone in the channel can see.
        """
        return [
            m
            for m in self.messages.values()
            if m.author_id == self.bot_user_id
            and not m.deleted
            and (channel_id is None or m.channel_id == channel_id)
            and (ephemeral is None or m.ephemeral == ephemeral)
        ]

    def edits_of(self, message_id: int) -> list[tuple[float, str]]:
        """(monotonic time, content) for the creation and every edit."""
        return list(self.get_message(message_id).edits)

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        pattern = re.compile(path_regex)
        return [
            r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)
        ]

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """The application commands currently registered in that scope."""
        return list(self._commands.get(guild_id, {}).values())

    def callbacks_of(self, interaction: Invocation | int) -> list[InteractionCallback]:
        iid = _interaction_id(interaction)
        return [c for c in self.interaction_callbacks if c.interaction_id == iid]

    def followups_of(self, interaction: Invocation | int) -> list[Followup]:
        iid = _interaction_id(interaction)
        return [f for f in self.followups if f.interaction_id == iid]

    def original_response(self, interaction: Invocation | int) -> StoredMessage | None:
        state = self._interactions.get(_interaction_id(interaction))
        return self.messages.get(state.original_id) if state and state.original_id else None

    # ----- test-side API: waiting ------------------------------------------

    async def wait_for(
        self, predicate: Callable[[], T], timeout: float = 5.0, *, what: str = "condition"
    ) -> T:
        """Poll `predicate()` until it returns something truthy, and return that.

        Polls because discord.py answers events in background tasks.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if loop.time() >= deadline:
                recent = [(r.method, r.path, r.status) for r in self.requests[-8:]]
                raise AssertionError(f"no {what} within {timeout}s; recent requests: {recent}")
            await asyncio.sleep(0.01)

    async def wait_for_bot_message(
        self,
        channel_id: int | None = None,
        predicate: Callable[[StoredMessage], bool] | None = None,
        timeout: float = 5.0,
    ) -> StoredMessage:
        """The first bot message (in `channel_id`, matching `predicate`)."""

        def find() -> StoredMessage | None:
            for message in self.bot_messages(channel_id):
                if predicate is None or predicate(message):
                    return message
            return None

        return await self.wait_for(find, timeout, what="matching bot message")

    async def wait_for_request(
        self, method: str, path_regex: str, timeout: float = 5.0
    ) -> RecordedRequest:
        """The first answered request to `method` on a path fully matching `path_regex`."""

        def find() -> RecordedRequest | None:
            done = [r for r in self.requests_to(method, path_regex) if r.status is not None]
            return done[0] if done else None

        return await self.wait_for(find, timeout, what=f"{method} {path_regex}")

    async def wait_for_callback(
        self, interaction: Invocation | int, timeout: float = 5.0
    ) -> InteractionCallback:
        def find() -> InteractionCallback | None:
            found = self.callbacks_of(interaction)
            return found[0] if found else None

        return await self.wait_for(find, timeout, what="interaction callback")

    async def wait_for_followup(
        self,
        interaction: Invocation | int,
        predicate: Callable[[Followup], bool] | None = None,
        timeout: float = 5.0,
    ) -> Followup:
        def find() -> Followup | None:
            for followup in self.followups_of(interaction):
                if predicate is None or predicate(followup):
                    return followup
            return None

        return await self.wait_for(find, timeout, what="followup")

    # ----- test-side API: faults -------------------------------------------

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

    # ----- test-side API: gateway events -----------------------------------

    async def send_message(
        self,
        content: str,
        *,
        author_id: int,
        channel_id: int | None = None,
        in_dm: bool = False,
        mention_bot: bool = False,
        reply_to: int | None = None,
        ping_reply: bool = True,
        bot: bool = False,
        webhook_id: int | None = None,
        type: int = DEFAULT,
        files: Iterable[tuple[str, bytes]] = (),
        embeds: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Store a user's message and dispatch MESSAGE_CREATE; returns the payload.

        Mentions come from `<@id>` in `content`; `mention_bot` adds the bot to
        `mentions` even when the content does not spell it out. `reply_to` (a
        stored message id) makes a type-19 reply with `referenced_message`; like
        Discord's client it pings the replied-to author unless `ping_reply=False`.
        `files` are (filename, bytes) attachments, downloadable by the bot.
        """
        if in_dm:
            channel_id = channel_id or self.dm_channel_id(author_id)
        channel_id = channel_id or self.channel_id
        channel = self._channel(channel_id)
        if webhook_id is not None:
            author = {
                "id": str(webhook_id),
                "username": "Webhook",
                "discriminator": "0000",
                "avatar": None,
                "bot": True,
            }
        else:
            author = self.user(author_id, bot=bot)
        reference = None
        if reply_to is not None:
            target = self.get_message(reply_to)
            reference = self._reference(target)
            type = type or REPLY
        mentions = self._mentions_in(content)
        pinged = [self.user(self.bot_user_id)] if mention_bot else []
        if reference is not None and ping_reply:
            pinged.append(target.author)
        for user in pinged:
            if all(u["id"] != user["id"] for u in mentions):
                mentions.append(user)
        message = self._store_message(
            channel,
            author=author,
            content=content,
            embeds=embeds or [],
            attachments=[self._attachment(name, data) for name, data in files],
            flags=0,
            type=type,
            reference=reference,
            mentions=mentions,
            webhook_id=webhook_id,
        )
        payload = self._message_payload(message, gateway=True)
        await self._dispatch("MESSAGE_CREATE", payload)
        return payload

    async def edit_message(self, message_id: int, content: str) -> dict[str, Any]:
        """A user edits their message: MESSAGE_UPDATE with the new content; returns it."""
        message = self.get_message(message_id)
        self._edit(message, {"content": content}, {})
        payload = self._message_payload(message, gateway=True)
        await self._dispatch("MESSAGE_UPDATE", payload)
        return payload

    async def delete_message(self, message_id: int) -> None:
        """Someone deletes a message (theirs, or a moderator the bot's): MESSAGE_DELETE."""
        message = self.get_message(message_id)
        message.deleted = True
        event = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            event["guild_id"] = str(message.guild_id)
        await self._dispatch("MESSAGE_DELETE", event)

    async def add_reaction(
        self,
        message_id: int,
        emoji: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        custom_emoji_id: int | None = None,
    ) -> dict[str, Any]:
        """A user reacts: MESSAGE_REACTION_ADD (with message_author_id and member)."""
        payload = self._reaction_payload(message_id, emoji, user_id, channel_id, custom_emoji_id)
        stored = self.messages.get(message_id)
        if stored is not None:
            payload["message_author_id"] = stored.author["id"]
            self._react(stored, payload["emoji"], user_id, add=True)
        if "guild_id" in payload:
            payload["member"] = self.member(user_id)
        await self._dispatch("MESSAGE_REACTION_ADD", payload)
        return payload

    async def remove_reaction(
        self,
        message_id: int,
        emoji: str,
        *,
        user_id: int,
        channel_id: int | None = None,
        custom_emoji_id: int | None = None,
    ) -> dict[str, Any]:
        """A user takes a reaction back: MESSAGE_REACTION_REMOVE (no member, no author)."""
        payload = self._reaction_payload(message_id, emoji, user_id, channel_id, custom_emoji_id)
        stored = self.messages.get(message_id)
        if stored is not None:
            self._react(stored, payload["emoji"], user_id, add=False)
        await self._dispatch("MESSAGE_REACTION_REMOVE", payload)
        return payload

    async def invoke_command(
        self,
        name: str,
        subcommand: str | None = None,
        options: dict[str, Any] | None = None,
        *,
        user_id: int,
        permissions: int | None = None,
        channel_id: int | None = None,
        in_dm: bool = False,
        locale: str = "en-US",
    ) -> Invocation:
        """A user runs `/name subcommand option:value...`: INTERACTION_CREATE type 2.

        Option types come from the synced command, else from the Python values.
        `permissions` defaults to what `set_permissions` stored (else 0).
        """
        data = self._command_data(name, subcommand, options or {}, None, in_dm)
        return await self._interact(2, data, user_id, permissions, channel_id, in_dm, locale)

    async def invoke_message_command(
        self,
        name: str,
        message_id: int,
        *,
        user_id: int,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> Invocation:
        """A user picks `name` in a message's Apps menu: INTERACTION_CREATE type 2, data type 3."""
        message = self.get_message(message_id)
        in_dm = message.guild_id is None
        in_guild = not in_dm and name in self._commands.get(self.guild_id, {})
        scope = self.guild_id if in_guild else None
        command = self._commands.get(scope, {}).get(name)
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self.new_id()),
            "name": name,
            "type": 3,
            "target_id": str(message.id),
            "resolved": {"messages": {str(message.id): self._message_payload(message)}},
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._interact(
            2, data, user_id, permissions, message.channel_id, in_dm, locale
        )

    async def submit_modal(
        self,
        opened_by: Invocation,
        values: dict[str, str],
        *,
        user_id: int,
        permissions: int | None = None,
    ) -> Invocation:
        """Submit the modal an interaction answered with (callback type 9): type 5, with
        `values` by the text inputs' custom ids."""
        [modal] = [c for c in self.callbacks_of(opened_by) if c.type == 9]
        state = self._interactions[opened_by.id]
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()
        ]
        data = {"custom_id": modal.data["custom_id"], "components": rows}
        in_dm = state.guild_id is None
        return await self._interact(5, data, user_id, permissions, state.channel_id, in_dm, "en-US")

    async def autocomplete(
        self,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str,
        *,
        user_id: int,
        permissions: int | None = None,
        channel_id: int | None = None,
        in_dm: bool = False,
        locale: str = "en-US",
    ) -> Invocation:
        """The user is typing option `focused`: INTERACTION_CREATE type 4."""
        data = self._command_data(name, subcommand, options, focused, in_dm)
        return await self._interact(4, data, user_id, permissions, channel_id, in_dm, locale)

    async def press_button(
        self, message_id: int, custom_id: str, *, user_id: int, permissions: int | None = None
    ) -> Invocation:
        """A user presses a button on a stored message: INTERACTION_CREATE type 3."""
        message = self.get_message(message_id)
        data = {"custom_id": custom_id, "component_type": 2}
        in_dm = message.guild_id is None
        return await self._interact(
            3, data, user_id, permissions, message.channel_id, in_dm, "en-US", message
        )

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

    async def stop(self) -> None:
        for conn in list(self._connections):
            # 1000 is a clean close; discord.py, if still running, reconnects.
            await conn.ws.close(code=1000, message=b"fake shutting down")
        await super().stop()

    # ----- payload builders ------------------------------------------------

    def _text_channel(self, channel_id: int, name: str) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(self.guild_id),
            "name": name,
            "position": 0,
            "parent_id": None,
            "topic": None,
            "nsfw": False,
            "rate_limit_per_user": 0,
            "permission_overwrites": [],
            "last_message_id": None,
            "flags": 0,
        }

    def _thread_channel(
        self, thread_id: int, name: str, parent_id: int, owner_id: int, type_: int
    ) -> dict[str, Any]:
        return {
            "id": str(thread_id),
            "type": type_,
            "guild_id": str(self.guild_id),
            "parent_id": str(parent_id),
            "owner_id": str(owner_id),
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "member_count": 1,
            "total_message_sent": 0,
            "rate_limit_per_user": 0,
            "flags": 0,
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": 1440,
                "archive_timestamp": _iso(_utcnow()),
                "locked": False,
                "create_timestamp": _iso(_utcnow()),
            },
        }

    def _roles(self) -> list[dict[str, Any]]:
        def role(role_id: int, name: str, permissions: int, position: int, **extra: Any):
            return {
                "id": str(role_id),
                "name": name,
                "permissions": str(permissions),
                "position": position,
                "color": 0,
                "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "icon": None,
                "unicode_emoji": None,
                "flags": 0,
                **extra,
            }

        return [
            role(self.guild_id, "@everyone", EVERYONE_PERMISSIONS, 0),
            role(
                self.bot_role_id,
                self.bot_name,
                BOT_ROLE_PERMISSIONS,
                1,
                managed=True,
                tags={"bot_id": str(self.bot_user_id)},
            ),
        ]

    def _guild(self) -> dict[str, Any]:
        return {
            "id": str(self.guild_id),
            "name": "Fake Guild",
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": self._roles(),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(self.channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
        }

    def _guild_create(self) -> dict[str, Any]:
        guild_channels = [c for c in self.channels.values() if c.get("guild_id")]
        return {
            **self._guild(),
            "unavailable": False,
            "large": False,
            "joined_at": _iso(self._created),
            "member_count": len(self.users),
            # Without the members intent Discord sends only the bot's own member.
            "members": [self.member(self.bot_user_id)],
            "channels": [
                {k: v for k, v in c.items() if k != "guild_id"}
                for c in guild_channels
                if c["type"] not in (11, 12)
            ],
            "threads": [c for c in guild_channels if c["type"] in (11, 12)],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

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
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
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

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 1 << 19,
            "owner": self.user(self.owner_id),
            "team": None,
            "bot": self.user(self.bot_user_id),
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
        }

    def _channel(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise _unknown("Channel", 10003)
        return channel

    def _attachment(self, filename: str, content: bytes, description: str | None = None):
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return Attachment(self.new_id(), filename, content, content_type, description)

    def _attachment_payload(self, channel_id: int, a: Attachment) -> dict[str, Any]:
        url = f"{self.base_url}/attachments/{channel_id}/{a.id}/{quote(a.filename)}"
        payload = {
            "id": str(a.id),
            "filename": a.filename,
            "size": len(a.content),
            "url": url,
            "proxy_url": url,
            "content_type": a.content_type,
        }
        if a.description is not None:
            payload["description"] = a.description
        return payload

    def _reference(self, target: StoredMessage) -> dict[str, Any]:
        reference = {"type": 0, "message_id": str(target.id), "channel_id": str(target.channel_id)}
        if target.guild_id:
            reference["guild_id"] = str(target.guild_id)
        return reference

    def _mentions_in(self, content: str) -> list[dict[str, Any]]:
        ids = dict.fromkeys(int(m) for m in _MENTION.findall(content or ""))
        return [self.user(i) for i in ids if i in self.users]

    def _store_message(
        self,
        channel: dict[str, Any],
        *,
        author: dict[str, Any],
        content: str,
        embeds: list[dict[str, Any]],
        attachments: list[Attachment],
        flags: int,
        type: int,
        reference: dict[str, Any] | None = None,
        mentions: list[dict[str, Any]] | None = None,
        components: list[dict[str, Any]] | None = None,
        webhook_id: int | None = None,
        interaction_id: int | None = None,
        nonce: str | int | None = None,
    ) -> StoredMessage:
        guild_id = channel.get("guild_id")
        message = StoredMessage(
            id=self.new_id(),
            channel_id=int(channel["id"]),
            guild_id=int(guild_id) if guild_id else None,
            author=author,
            content=content,
            embeds=embeds,
            attachments=attachments,
            flags=flags,
            type=type,
            message_reference=reference,
            edits=[(time.monotonic(), content)],
            created_at=_utcnow(),
            mentions=mentions or [],
            components=components or [],
            webhook_id=webhook_id,
            interaction_id=interaction_id,
            nonce=nonce,
        )
        self.messages[message.id] = message
        if not message.ephemeral:
            channel["last_message_id"] = str(message.id)
            if channel["type"] in (11, 12):
                channel["message_count"] += 1
                channel["total_message_sent"] += 1
        return message

    def _message_payload(
        self, m: StoredMessage, *, gateway: bool = False, nested: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(m.id),
            "channel_id": str(m.channel_id),
            "author": m.author,
            "content": m.content,
            "timestamp": _iso(m.created_at),
            "edited_timestamp": _iso(m.edited_at) if m.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": m.mentions,
            "mention_roles": [],
            "attachments": [self._attachment_payload(m.channel_id, a) for a in m.attachments],
            "embeds": m.embeds,
            "pinned": False,
            "type": m.type,
            "flags": m.flags,
            "components": m.components,
        }
        if m.guild_id:
            payload["guild_id"] = str(m.guild_id)
            if gateway and m.webhook_id is None:
                payload["member"] = self.member(m.author_id, with_user=False)
        if m.nonce is not None:
            payload["nonce"] = m.nonce
        if m.webhook_id is not None:
            payload["webhook_id"] = str(m.webhook_id)
        state = self._interactions.get(m.interaction_id or 0)
        if state is not None:
            payload["application_id"] = str(self.application_id)
            payload["interaction_metadata"] = {
                "id": str(state.id),
                "type": state.type,
                "name": state.name,
                "user": state.user,
                "authorizing_integration_owners": {"0": str(state.guild_id or 0)},
            }
        if m.reactions:
            payload["reactions"] = [
                {
                    "emoji": emoji,
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot_user_id in users,
                    "me_burst": False,
                    "burst_colors": [],
                }
                for emoji, users in m.reactions.values()
                if users
            ]
        if m.thread_id is not None and m.thread_id in self.channels:
            payload["thread"] = self.channels[m.thread_id]
        if m.message_reference is not None:
            payload["message_reference"] = m.message_reference
            if not nested:
                target = self.messages.get(m.reply_to or 0)
                alive = target is not None and not target.deleted
                payload["referenced_message"] = (
                    self._message_payload(target, nested=True) if alive else None
                )
        return payload

    def _reaction_payload(
        self,
        message_id: int,
        emoji: str,
        user_id: int,
        channel_id: int | None,
        custom_emoji_id: int | None,
    ) -> dict[str, Any]:
        stored = self.messages.get(message_id)
        if channel_id is None:
            channel_id = stored.channel_id if stored else self.channel_id
        channel = self._channel(channel_id)
        self.user(user_id)
        emoji_payload: dict[str, Any] = {"id": None, "name": emoji}
        if custom_emoji_id is not None:
            emoji_payload = {"id": str(custom_emoji_id), "name": emoji, "animated": False}
        payload: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": emoji_payload,
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if channel.get("guild_id"):
            payload["guild_id"] = channel["guild_id"]
        return payload

    def _react(self, message: StoredMessage, emoji: dict[str, Any], user_id: int, *, add: bool):
        key = f"{emoji['name']}:{emoji['id']}" if emoji.get("id") else emoji["name"]
        _, users = message.reactions.setdefault(key, (emoji, set()))
        if add:
            users.add(user_id)
        else:
            users.discard(user_id)

    # ----- interactions ----------------------------------------------------

    def _command_data(
        self,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str | None,
        in_dm: bool,
    ) -> dict[str, Any]:
        # Discord sends the guild command when one with that name exists there.
        in_guild = not in_dm and name in self._commands.get(self.guild_id, {})
        scope = self.guild_id if in_guild else None
        command = self._commands.get(scope, {}).get(name)
        schema = (command or {}).get("options", [])
        path = subcommand.split() if subcommand else []
        for part in path:  # "group sub" walks a subcommand group
            schema = next((o for o in schema if o.get("name") == part), {}).get("options", [])
        types = {o.get("name"): o.get("type") for o in schema}
        values = []
        for key, value in options.items():
            inferred = (t for kind, t in _OPTION_TYPES if isinstance(value, kind))
            option_type = types.get(key) or next(inferred, 3)
            option: dict[str, Any] = {"name": key, "type": option_type, "value": value}
            if key == focused:
                option["focused"] = True
            values.append(option)
        for depth, part in reversed(list(enumerate(path))):
            kind = 1 if depth == len(path) - 1 else 2  # SUB_COMMAND inside SUB_COMMAND_GROUP
            values = [{"type": kind, "name": part, "options": values}]
        data: dict[str, Any] = {
            "id": command["id"] if command else str(self.new_id()),
            "name": name,
            "type": 1,
            "options": values,
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return data

    async def _interact(
        self,
        type_: int,
        data: dict[str, Any],
        user_id: int,
        permissions: int | None,
        channel_id: int | None,
        in_dm: bool,
        locale: str,
        message: StoredMessage | None = None,
    ) -> Invocation:
        if in_dm:
            channel_id = channel_id or self.dm_channel_id(user_id)
        channel = self._channel(channel_id or self.channel_id)
        interaction_id = self.new_id()
        token = f"fake-interaction-token-{interaction_id}-{secrets.token_hex(8)}"
        user = self.user(user_id)
        if permissions is None:
            permissions = self.member_permissions.get(user_id, 0)
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": type_,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": channel["id"],
            "channel": {**channel, "permissions": str(permissions)},
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": 10 * 1024 * 1024,
        }
        guild_id = int(channel["guild_id"]) if channel.get("guild_id") else None
        if guild_id is not None:
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**self.member(user_id), "permissions": str(permissions)},
                app_permissions=str(EVERYONE_PERMISSIONS | BOT_ROLE_PERMISSIONS),
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            payload.update(
                user=user,
                app_permissions=str(EVERYONE_PERMISSIONS),
                context=1,
                authorizing_integration_owners={"0": "0"},
            )
        if message is not None:
            payload["message"] = self._message_payload(message)
        name = data.get("name") or data.get("custom_id", "")
        options = data.get("options", [])
        while options and options[0].get("type") in (1, 2):
            name = f"{name} {options[0]['name']}"
            options = options[0].get("options", [])
        self._interactions[interaction_id] = _Interaction(
            id=interaction_id,
            token=token,
            type=type_,
            channel_id=int(channel["id"]),
            guild_id=guild_id,
            user=user,
            name=name,
            created=time.monotonic(),
            message_id=message.id if message else None,
        )
        await self._dispatch("INTERACTION_CREATE", payload)
        return Invocation(interaction_id, token, payload)

    def _interaction_by_token(self, app_or_id: str, token: str, *, webhook: bool) -> _Interaction:
        for state in self._interactions.values():
            if state.token == token:
                expected = self.application_id if webhook else state.id
                if int(app_or_id) != expected:
                    break
                return state
        if webhook:
            raise ApiError(404, "Unknown Webhook", 10015)
        raise _unknown("interaction", 10062)

    # ----- gateway -----------------------------------------------------------

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
            await self._dispatch_locked(session, "GUILD_CREATE", self._guild_create())
            session.live = True

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

    # ----- REST plumbing -----------------------------------------------------

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
            response = _json(body, err.status)
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
            return _json({"message": message, "code": code}, fault.status)
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
        return _json(body, 429, headers)

    async def _handle_cdn(self, request: web.Request) -> web.Response:
        message_attachments = (a for m in self.messages.values() for a in m.attachments)
        for attachment in message_attachments:
            if str(attachment.id) == request.match_info["attachment"]:
                return web.Response(body=attachment.content, content_type=attachment.content_type)
        return web.Response(status=404, text="Not Found")

    # ----- REST: users, guild, channels ------------------------------------

    async def _get_me(self, request, match, payload, files) -> web.Response:
        me = {**self.user(self.bot_user_id), "verified": True, "mfa_enabled": False, "flags": 0}
        return _json(me)

    async def _get_user(self, request, match, payload, files) -> web.Response:
        user_id = int(match["user"])
        if user_id not in self.users:
            raise _unknown("User", 10013)
        return _json(self.user(user_id))

    async def _get_application(self, request, match, payload, files) -> web.Response:
        return _json(self._application())

    async def _get_gateway(self, request, match, payload, files) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _check_guild(self, guild_id: str | None) -> None:
        if guild_id is not None and int(guild_id) != self.guild_id:
            raise ApiError(403, "Missing Access", 50001)

    async def _get_guild(self, request, match, payload, files) -> web.Response:
        self._check_guild(match["guild"])
        return _json(self._guild())

    async def _get_member(self, request, match, payload, files) -> web.Response:
        self._check_guild(match["guild"])
        user_id = int(match["user"])
        if user_id not in self.users:
            raise _unknown("Member", 10007)
        return _json(self.member(user_id))

    async def _create_dm(self, request, match, payload, files) -> web.Response:
        user_id = int((payload or {}).get("recipient_id", 0))
        if user_id not in self.users:
            raise _unknown("User", 10013)
        return _json(self.channels[self.dm_channel_id(user_id)])

    async def _get_channel(self, request, match, payload, files) -> web.Response:
        return _json(self._channel(int(match["channel"])))

    async def _typing(self, request, match, payload, files) -> web.Response:
        self._channel(int(match["channel"]))
        self.typing_calls.append(TypingCall(int(match["channel"]), time.monotonic()))
        return web.Response(status=204)

    # ----- REST: messages --------------------------------------------------

    def _visible(self, channel_id: int, message_id: int) -> StoredMessage:
        message = self.messages.get(message_id)
        # Ephemeral messages are not reachable through channel routes.
        if message is None or message.channel_id != channel_id:
            raise _unknown("Message", 10008)
        if message.deleted or message.ephemeral:
            raise _unknown("Message", 10008)
        return message

    def _new_message(
        self,
        channel: dict[str, Any],
        payload: dict[str, Any],
        files: dict[int, tuple[str, bytes]],
        **extra: Any,
    ) -> StoredMessage:
        """Validate a message body as Discord does and store it as the bot's."""
        content = payload.get("content") or ""
        _check_length(content)
        attachments = _new_attachments(self, payload, files)
        has_body = payload.get("embeds") or payload.get("sticker_ids") or payload.get("poll")
        if not (content or attachments or has_body or payload.get("components")):
            raise ApiError(400, "Cannot send an empty message", 50006)
        reference = None
        requested = payload.get("message_reference")
        if requested and requested.get("message_id"):
            target = self.messages.get(int(requested["message_id"]))
            if target is not None and not target.deleted:
                reference = self._reference(target)
            elif requested.get("fail_if_not_exists", True):
                error = {"code": "REPLIES_UNKNOWN_MESSAGE", "message": "Unknown message"}
                errors = {"message_reference": {"_errors": [error]}}
                raise ApiError(400, "Invalid Form Body", 50035, errors)
        mentions = self._mentions_in(content)
        replied = self.messages.get(int(reference["message_id"])) if reference else None
        allowed = payload.get("allowed_mentions") or {}
        replied_user = replied is not None and allowed.get("replied_user", True)
        if replied_user and all(u["id"] != replied.author["id"] for u in mentions):
            mentions.append(replied.author)
        return self._store_message(
            channel,
            author=self.user(self.bot_user_id),
            content=content,
            embeds=list(payload.get("embeds") or []),
            attachments=attachments,
            flags=int(payload.get("flags") or 0),
            type=extra.pop("type", REPLY if reference else DEFAULT),
            reference=reference,
            mentions=mentions,
            components=list(payload.get("components") or []),
            nonce=payload.get("nonce"),
            **extra,
        )

    def _edit(
        self, message: StoredMessage, payload: dict[str, Any], files: dict[int, tuple[str, bytes]]
    ) -> None:
        if "content" in payload:
            message.content = payload["content"] or ""
            _check_length(message.content)
        if "embeds" in payload:
            message.embeds = list(payload["embeds"] or [])
        if "components" in payload:
            message.components = list(payload["components"] or [])
        if "attachments" in payload:
            keep = {str(a.get("id")) for a in payload["attachments"] or []}
            kept = [a for a in message.attachments if str(a.id) in keep]
            message.attachments = kept + _new_attachments(self, payload, files)
        elif files:
            message.attachments += _new_attachments(self, payload, files)
        if payload.get("flags") is not None:
            # Only SUPPRESS_EMBEDS can change; LOADING goes once the message has a body.
            message.flags = (message.flags & ~(1 << 2)) | (int(payload["flags"]) & (1 << 2))
        message.flags &= ~LOADING
        message.edited_at = _utcnow()
        message.edits.append((time.monotonic(), message.content))

    async def _post_message(self, request, match, payload, files) -> web.Response:
        channel = self._channel(int(match["channel"]))
        message = self._new_message(channel, payload or {}, files)
        await self._echo("MESSAGE_CREATE", self._message_payload(message, gateway=True))
        return _json(self._message_payload(message))

    async def _get_channel_message(self, request, match, payload, files) -> web.Response:
        message = self._visible(int(match["channel"]), int(match["message"]))
        return _json(self._message_payload(message))

    async def _list_messages(self, request, match, payload, files) -> web.Response:
        channel_id = int(match["channel"])
        self._channel(channel_id)
        limit = max(1, min(100, int(request.query.get("limit", 50))))
        newest_first = [
            m
            for m in reversed(self.messages.values())
            if m.channel_id == channel_id and not m.deleted and not m.ephemeral
        ]
        if "after" in request.query:
            # The `limit` oldest messages after the id, still returned newest first.
            after = int(request.query["after"])
            picked = [m for m in reversed(newest_first) if m.id > after][:limit][::-1]
        elif "around" in request.query:
            around = int(request.query["around"])
            older = [m for m in newest_first if m.id <= around][: (limit + 1) // 2]
            newer = [m for m in reversed(newest_first) if m.id > around][: limit // 2]
            picked = newer[::-1] + older
        else:
            before = int(request.query.get("before", 1 << 63))
            picked = [m for m in newest_first if m.id < before][:limit]
        return _json([self._message_payload(m) for m in picked])

    async def _patch_message(self, request, match, payload, files) -> web.Response:
        message = self._visible(int(match["channel"]), int(match["message"]))
        if message.author_id != self.bot_user_id:
            raise ApiError(403, "Cannot edit a message authored by another user", 50005)
        self._edit(message, payload or {}, files)
        await self._echo("MESSAGE_UPDATE", self._message_payload(message, gateway=True))
        return _json(self._message_payload(message))

    async def _delete_message(self, request, match, payload, files) -> web.Response:
        message = self._visible(int(match["channel"]), int(match["message"]))
        await self._delete(message)
        return web.Response(status=204)

    async def _delete(self, message: StoredMessage) -> None:
        message.deleted = True
        if message.ephemeral:
            return
        event = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id:
            event["guild_id"] = str(message.guild_id)
        await self._echo("MESSAGE_DELETE", event)

    async def _react_put(self, request, match, payload, files) -> web.Response:
        return await self._bot_react(match, add=True)

    async def _react_delete(self, request, match, payload, files) -> web.Response:
        return await self._bot_react(match, add=False)

    async def _bot_react(self, match: re.Match[str], *, add: bool) -> web.Response:
        channel_id, message_id = int(match["channel"]), int(match["message"])
        message = self._visible(channel_id, message_id)
        emoji = match["emoji"]  # aiohttp has already percent-decoded the path
        name, _, emoji_id = emoji.rpartition(":") if ":" in emoji else (emoji, "", "")
        emoji_payload = {"id": emoji_id or None, "name": name.removeprefix("a:")}
        self._react(message, emoji_payload, self.bot_user_id, add=add)
        self.bot_reactions.append(BotReaction(channel_id, message_id, emoji, add, time.monotonic()))
        event = {
            "user_id": str(self.bot_user_id),
            "channel_id": str(channel_id),
            "message_id": str(message_id),
            "emoji": emoji_payload,
            "burst": False,
            "burst_colors": [],
            "type": 0,
        }
        if message.guild_id:
            event["guild_id"] = str(message.guild_id)
            if add:
                event["member"] = self.member(self.bot_user_id)
        if add:
            event["message_author_id"] = message.author["id"]
        await self._echo("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", event)
        return web.Response(status=204)

    async def _thread_from_message(self, request, match, payload, files) -> web.Response:
        parent_id = int(match["channel"])
        message = self._visible(parent_id, int(match["message"]))
        if message.thread_id is not None:
            raise ApiError(400, "A thread has already been created for this message", 160004)
        # A thread started from a message shares the message's id.
        thread = self._thread_channel(
            message.id, (payload or {}).get("name", "thread"), parent_id, self.bot_user_id, 11
        )
        self.channels[message.id] = thread
        message.thread_id = message.id
        message.flags |= HAS_THREAD
        await self._echo("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    async def _thread_without_message(self, request, match, payload, files) -> web.Response:
        payload = payload or {}
        parent_id = int(match["channel"])
        self._channel(parent_id)
        thread_id = self.new_id()
        thread = self._thread_channel(
            thread_id,
            payload.get("name", "thread"),
            parent_id,
            self.bot_user_id,
            int(payload.get("type") or 12),  # v10 makes private threads by default
        )
        self.channels[thread_id] = thread
        await self._echo("THREAD_CREATE", {**thread, "newly_created": True})
        return _json(thread, 201)

    # ----- REST: application commands --------------------------------------

    def _command_scope(self, match: re.Match[str]) -> int | None:
        if int(match["app"]) != self.application_id:
            raise ApiError(403, "Missing Access", 50001)
        self._check_guild(match["guild"])
        return int(match["guild"]) if match["guild"] else None

    def _register(self, scope: int | None, command: dict[str, Any], known: dict[str, Any]):
        # Overwriting keeps the id of a command with the same name, as Discord does.
        name = command.get("name", "")
        # Slash commands have lower-case names without spaces; user and message commands
        # (types 2 and 3, shown in menus) may have spaces and capitals.
        if command.get("type", 1) == 1:
            valid = re.fullmatch(r"[-_\w]{1,32}", name) and name == name.lower()
        else:
            valid = 1 <= len(name) <= 32
        if not valid:
            error = {"name": {"_errors": [{"code": "APPLICATION_COMMAND_INVALID_NAME"}]}}
            raise ApiError(400, "Invalid Form Body", 50035, error)
        old = known.get(name)
        registered = {
            "type": 1,
            "description": "",
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **command,
            "id": old["id"] if old else str(self.new_id()),
            "application_id": str(self.application_id),
            "version": str(self.new_id()),
        }
        if scope is not None:
            registered["guild_id"] = str(scope)
        return registered

    async def _get_commands(self, request, match, payload, files) -> web.Response:
        return _json(self.commands(self._command_scope(match)))

    async def _put_commands(self, request, match, payload, files) -> web.Response:
        scope = self._command_scope(match)
        if not isinstance(payload, list):
            raise ApiError(400, "Invalid Form Body", 50035)
        known = self._commands.get(scope, {})
        registered = [self._register(scope, command, known) for command in payload]
        self._commands[scope] = {c["name"]: c for c in registered}
        self.command_syncs.append(CommandSync(scope, payload, time.monotonic()))
        return _json(registered)

    async def _post_command(self, request, match, payload, files) -> web.Response:
        scope = self._command_scope(match)
        known = self._commands.setdefault(scope, {})
        registered = self._register(scope, payload or {}, known)
        status = 200 if registered["name"] in known else 201
        known[registered["name"]] = registered
        return _json(registered, status)

    def _find_command(self, match: re.Match[str]) -> tuple[int | None, dict[str, Any]]:
        scope = self._command_scope(match)
        for command in self.commands(scope):
            if command["id"] == match["cmd"]:
                return scope, command
        raise _unknown("application command", 10063)

    async def _get_command(self, request, match, payload, files) -> web.Response:
        return _json(self._find_command(match)[1])

    async def _delete_command(self, request, match, payload, files) -> web.Response:
        scope, command = self._find_command(match)
        del self._commands[scope][command["name"]]
        return web.Response(status=204)

    # ----- REST: interaction callbacks and webhooks -------------------------

    async def _callback(self, request, match, payload, files) -> web.Response:
        state = self._interaction_by_token(match["iid"], match["token"], webhook=False)
        late = self.callback_deadline is not None and (
            time.monotonic() - state.created > self.callback_deadline
        )
        if late:
            raise _unknown("interaction", 10062)
        if state.acked is not None:
            raise ApiError(400, "Interaction has already been acknowledged.", 40060)
        payload = payload or {}
        kind, data = int(payload.get("type", 0)), payload.get("data") or {}
        if kind not in _CALLBACK_TYPES_FOR[state.type]:
            error = {"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID"}]}}
            raise ApiError(400, "Invalid Form Body", 50035, error)
        message: StoredMessage | None = None
        channel = self._channel(state.channel_id)
        # The message is built (and validated) before the interaction counts as answered.
        if kind == CHANNEL_MESSAGE:
            message = self._interaction_message(state, channel, data, files)
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            flags = LOADING | (int(data.get("flags") or 0) & EPHEMERAL)
            message = self._store_message(
                channel,
                author=self.user(self.bot_user_id),
                content="",
                embeds=[],
                attachments=[],
                flags=flags,
                type=CHAT_INPUT_COMMAND,
                webhook_id=self.application_id,
                interaction_id=state.id,
            )
        elif kind == UPDATE_MESSAGE and state.message_id is not None:
            message = self.get_message(state.message_id)
            self._edit(message, data, files)
        self.interaction_callbacks.append(
            InteractionCallback(
                state.id, state.token, kind, data, list(files.values()), time.monotonic()
            )
        )
        state.acked = kind
        if message is not None and kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE):
            state.original_id = message.id
            state.message_ids.append(message.id)
            if not message.ephemeral:
                await self._echo("MESSAGE_CREATE", self._message_payload(message, gateway=True))
        elif message is not None:
            await self._echo_update(message)
        if request.query.get("with_response") not in ("1", "true", "True"):
            return web.Response(status=204)
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(state.id),
                "type": state.type,
                "response_message_id": str(message.id) if message else None,
                "response_message_loading": bool(message and message.flags & LOADING),
                "response_message_ephemeral": bool(message and message.ephemeral),
            },
            "resource": {"type": kind},
        }
        if message is not None:
            answer["resource"]["message"] = self._message_payload(message)
        return _json(answer)

    def _interaction_message(self, state, channel, payload, files) -> StoredMessage:
        return self._new_message(
            channel,
            payload,
            files,
            type=CHAT_INPUT_COMMAND,
            webhook_id=self.application_id,
            interaction_id=state.id,
        )

    def _acked(self, match: re.Match[str]) -> _Interaction:
        state = self._interaction_by_token(match["app"], match["token"], webhook=True)
        if state.acked is None:
            # The webhook only exists once the interaction has been answered.
            raise ApiError(404, "Unknown Webhook", 10015)
        return state

    def _hook_message(self, state: _Interaction, message_ref: str) -> StoredMessage:
        message_id = state.original_id if message_ref == "@original" else int(message_ref)
        if message_id is None or message_id not in state.message_ids:
            raise _unknown("Message", 10008)
        message = self.messages[message_id]
        if message.deleted:
            raise _unknown("Message", 10008)
        return message

    async def _followup(self, request, match, payload, files) -> web.Response:
        state = self._acked(match)
        payload = payload or {}
        original = self.messages.get(state.original_id or 0)
        replaced = original is not None and bool(original.flags & LOADING)
        if replaced:
            # The first followup after a deferral fills the "thinking" message;
            # its ephemerality was fixed by the deferral.
            message = original
            self._edit(message, {"attachments": [], **payload, "flags": None}, files)
            await self._echo_update(message)
        else:
            channel = self._channel(state.channel_id)
            message = self._interaction_message(state, channel, payload, files)
            state.message_ids.append(message.id)
            if not message.ephemeral:
                await self._echo("MESSAGE_CREATE", self._message_payload(message, gateway=True))
        self.followups.append(
            Followup(
                interaction_id=state.id,
                token=state.token,
                message_id=message.id,
                content=message.content,
                flags=message.flags,
                embeds=message.embeds,
                files=[(a.filename, a.content) for a in message.attachments],
                at=time.monotonic(),
                replaced_original=replaced,
            )
        )
        if request.query.get("wait") not in ("1", "true", "True"):
            return web.Response(status=204)
        return _json(self._message_payload(message))

    async def _echo_update(self, message: StoredMessage) -> None:
        if not message.ephemeral:
            await self._echo("MESSAGE_UPDATE", self._message_payload(message, gateway=True))

    async def _get_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        return _json(self._message_payload(message))

    async def _patch_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        self._edit(message, payload or {}, files)
        await self._echo_update(message)
        return _json(self._message_payload(message))

    async def _delete_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        await self._delete(message)
        return web.Response(status=204)


# ----- helpers ------------------------------------------------------------------


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
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


def _new_attachments(
    fake: FakeDiscord, payload: dict[str, Any], files: dict[int, tuple[str, bytes]]
) -> list[Attachment]:
    """Attachments for uploaded files; payload `attachments` may rename/describe them."""
    meta = {str(a.get("id")): a for a in payload.get("attachments") or [] if isinstance(a, dict)}
    result = []
    for index, (filename, content) in sorted(files.items()):
        info = meta.get(str(index), {})
        result.append(
            fake._attachment(info.get("filename") or filename, content, info.get("description"))
        )
    return result


def _check_length(content: str) -> None:
    if len(content) > MAX_CONTENT:
        error = {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
        raise ApiError(400, "Invalid Form Body", 50035, {"content": {"_errors": [error]}})


def _intents_allow(intents: int, event: str, data: dict[str, Any]) -> bool:
    in_guild = "guild_id" in data
    if event.startswith("MESSAGE_REACTION"):
        return bool(intents & (GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS))
    if event.startswith("MESSAGE_"):
        return bool(intents & (GUILD_MESSAGES if in_guild else DIRECT_MESSAGES))
    if event.startswith(("THREAD_", "GUILD_", "CHANNEL_")):
        return bool(intents & GUILDS)
    return True


def _interaction_id(interaction: Invocation | int) -> int:
    return interaction.id if isinstance(interaction, Invocation) else int(interaction)


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat()


if __name__ == "__main__":
    run_standalone(FakeDiscord, "Fake Discord REST API and gateway for tests")
