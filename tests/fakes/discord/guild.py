"""REST routes for the bot's identity and application, the guilds, their members and channels
(DMs, typing, threads)."""

from __future__ import annotations

import time

from aiohttp import web

from tests.fakes.discord.models import TypingCall
from tests.fakes.discord.protocol import HAS_THREAD
from tests.fakes.discord.rest import ApiError, json_response, unknown


class GuildRoutes:
    """FakeDiscord's REST handlers for users, the guilds and their channels."""

    async def _get_me(self, request, match, payload, files) -> web.Response:
        me = {**self.user(self.bot_user_id), "verified": True, "mfa_enabled": False, "flags": 0}
        return json_response(me)

    async def _get_user(self, request, match, payload, files) -> web.Response:
        user_id = int(match["user"])
        if user_id not in self.users:
            raise unknown("User", 10013)
        return json_response(self.user(user_id))

    async def _get_application(self, request, match, payload, files) -> web.Response:
        return json_response(self._application())

    async def _get_gateway(self, request, match, payload, files) -> web.Response:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return json_response({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})

    def _check_guild(self, guild_id: str | None) -> None:
        if guild_id is not None and int(guild_id) not in self.guilds:
            raise ApiError(403, "Missing Access", 50001)

    async def _get_guild(self, request, match, payload, files) -> web.Response:
        self._check_guild(match["guild"])
        return json_response(self._guild(int(match["guild"])))

    async def _get_member(self, request, match, payload, files) -> web.Response:
        self._check_guild(match["guild"])
        user_id = int(match["user"])
        if user_id not in self.users:
            raise unknown("Member", 10007)
        return json_response(self.member(user_id, guild_id=int(match["guild"])))

    async def _create_dm(self, request, match, payload, files) -> web.Response:
        user_id = int((payload or {}).get("recipient_id", 0))
        if user_id not in self.users:
            raise unknown("User", 10013)
        return json_response(self.channels[self.dm_channel_id(user_id)])

    async def _get_channel(self, request, match, payload, files) -> web.Response:
        return json_response(self._channel(int(match["channel"])))

    async def _typing(self, request, match, payload, files) -> web.Response:
        self._channel(int(match["channel"]))
        self.typing_calls.append(TypingCall(int(match["channel"]), time.monotonic()))
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
        return json_response(thread, 201)

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
        return json_response(thread, 201)
