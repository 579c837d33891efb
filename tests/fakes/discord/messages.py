"""REST routes for channel messages (send, read, list, edit, delete) and the bot's reactions,
validated as Discord does."""

from __future__ import annotations

import re
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.models import BotReaction, StoredMessage
from tests.fakes.discord.protocol import DEFAULT, LOADING, MAX_CONTENT, REPLY, utcnow
from tests.fakes.discord.rest import ApiError, json_response, unknown


class MessageRoutes:
    """FakeDiscord's REST handlers for messages and reactions."""

    def _visible(self, channel_id: int, message_id: int) -> StoredMessage:
        message = self.messages.get(message_id)
        # Ephemeral messages are not reachable through channel routes.
        if message is None or message.channel_id != channel_id:
            raise unknown("Message", 10008)
        if message.deleted or message.ephemeral:
            raise unknown("Message", 10008)
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
        attachments = self._new_attachments(payload, files)
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
            message.attachments = kept + self._new_attachments(payload, files)
        elif files:
            message.attachments += self._new_attachments(payload, files)
        if payload.get("flags") is not None:
            # Only SUPPRESS_EMBEDS can change; LOADING goes once the message has a body.
            message.flags = (message.flags & ~(1 << 2)) | (int(payload["flags"]) & (1 << 2))
        message.flags &= ~LOADING
        message.edited_at = utcnow()
        message.edits.append((time.monotonic(), message.content))

    async def _post_message(self, request, match, payload, files) -> web.Response:
        channel = self._channel(int(match["channel"]))
        message = self._new_message(channel, payload or {}, files)
        await self._echo("MESSAGE_CREATE", self._message_payload(message, gateway=True))
        return json_response(self._message_payload(message))

    async def _get_channel_message(self, request, match, payload, files) -> web.Response:
        message = self._visible(int(match["channel"]), int(match["message"]))
        return json_response(self._message_payload(message))

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
        return json_response([self._message_payload(m) for m in picked])

    async def _patch_message(self, request, match, payload, files) -> web.Response:
        message = self._visible(int(match["channel"]), int(match["message"]))
        if message.author_id != self.bot_user_id:
            raise ApiError(403, "Cannot edit a message authored by another user", 50005)
        self._edit(message, payload or {}, files)
        await self._echo("MESSAGE_UPDATE", self._message_payload(message, gateway=True))
        return json_response(self._message_payload(message))

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
                event["member"] = self.member(self.bot_user_id, guild_id=message.guild_id)
        if add:
            event["message_author_id"] = message.author["id"]
        await self._echo("MESSAGE_REACTION_ADD" if add else "MESSAGE_REACTION_REMOVE", event)
        return web.Response(status=204)


def _check_length(content: str) -> None:
    if len(content) > MAX_CONTENT:
        error = {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}
        raise ApiError(400, "Invalid Form Body", 50035, {"content": {"_errors": [error]}})
