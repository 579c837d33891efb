"""Interactions: INTERACTION_CREATE for injected commands, buttons and modals, and the REST routes
that answer them (callbacks, followups, the original response)."""

from __future__ import annotations

import re
import secrets
import time
from typing import Any

from aiohttp import web

from tests.fakes.discord.models import (
    Followup,
    InteractionCallback,
    InteractionState,
    Invocation,
    StoredMessage,
)
from tests.fakes.discord.protocol import (
    BOT_ROLE_PERMISSIONS,
    CHANNEL_MESSAGE,
    CHAT_INPUT_COMMAND,
    DEFERRED_CHANNEL_MESSAGE,
    EPHEMERAL,
    EVERYONE_PERMISSIONS,
    LOADING,
    UPDATE_MESSAGE,
)
from tests.fakes.discord.rest import ApiError, json_response, unknown

# Callback types Discord accepts per interaction type (2 command, 3 component,
# 4 autocomplete, 5 modal submit).
_CALLBACK_TYPES_FOR = {2: {4, 5, 9, 12}, 3: {4, 5, 6, 7, 9, 12}, 4: {8}, 5: {4, 5, 6, 7}}

# Option types inferred from Python values when the command was never synced.
_OPTION_TYPES: tuple[tuple[type, int], ...] = ((bool, 5), (int, 4), (float, 10), (str, 3))


class Interactions:
    """FakeDiscord's interactions, from INTERACTION_CREATE to the last followup."""

    # ----- INTERACTION_CREATE ------------------------------------------------

    def _interaction_channel(
        self, channel_id: int | None, guild_id: int | None, in_dm: bool, user_id: int
    ) -> dict[str, Any]:
        """Where an injected interaction happens: `channel_id`, else the user's DM with the
        bot (`in_dm`), else the text channel of `guild_id` (default: the first guild).
        A `guild_id` that is given must be the channel's own guild."""
        if in_dm:
            if guild_id is not None:
                raise ValueError("an interaction in a DM has no guild_id")
            channel_id = channel_id or self.dm_channel_id(user_id)
        channel = self._channel(channel_id or self._hosted(guild_id).channel_id)
        if guild_id is not None and channel.get("guild_id") != str(guild_id):
            raise ValueError(f"channel {channel['id']} is not in guild {guild_id}")
        return channel

    def _command_data(
        self,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str | None,
        guild_id: int | None,
    ) -> dict[str, Any]:
        # Discord sends the command synced to the interaction's guild when one with that
        # name exists there, else the global one; in a DM only global commands exist.
        in_guild = guild_id is not None and name in self._commands.get(guild_id, {})
        scope = guild_id if in_guild else None
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
        channel: dict[str, Any],
        locale: str,
        message: StoredMessage | None = None,
    ) -> Invocation:
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
        guild_id = _guild_of(channel)
        if guild_id is not None:
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                member={**self.member(user_id, guild_id=guild_id), "permissions": str(permissions)},
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
        self._interactions[interaction_id] = InteractionState(
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

    def _interaction_by_token(
        self, app_or_id: str, token: str, *, webhook: bool
    ) -> InteractionState:
        for state in self._interactions.values():
            if state.token == token:
                expected = self.application_id if webhook else state.id
                if int(app_or_id) != expected:
                    break
                return state
        if webhook:
            raise ApiError(404, "Unknown Webhook", 10015)
        raise unknown("interaction", 10062)

    # ----- REST: callbacks, followups and the original response ------------

    async def _callback(self, request, match, payload, files) -> web.Response:
        state = self._interaction_by_token(match["iid"], match["token"], webhook=False)
        late = self.callback_deadline is not None and (
            time.monotonic() - state.created > self.callback_deadline
        )
        if late:
            raise unknown("interaction", 10062)
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
        return json_response(answer)

    def _interaction_message(self, state, channel, payload, files) -> StoredMessage:
        return self._new_message(
            channel,
            payload,
            files,
            type=CHAT_INPUT_COMMAND,
            webhook_id=self.application_id,
            interaction_id=state.id,
        )

    def _acked(self, match: re.Match[str]) -> InteractionState:
        state = self._interaction_by_token(match["app"], match["token"], webhook=True)
        if state.acked is None:
            # The webhook only exists once the interaction has been answered.
            raise ApiError(404, "Unknown Webhook", 10015)
        return state

    def _hook_message(self, state: InteractionState, message_ref: str) -> StoredMessage:
        message_id = state.original_id if message_ref == "@original" else int(message_ref)
        if message_id is None or message_id not in state.message_ids:
            raise unknown("Message", 10008)
        message = self.messages[message_id]
        if message.deleted:
            raise unknown("Message", 10008)
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
        return json_response(self._message_payload(message))

    async def _echo_update(self, message: StoredMessage) -> None:
        if not message.ephemeral:
            await self._echo("MESSAGE_UPDATE", self._message_payload(message, gateway=True))

    async def _get_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        return json_response(self._message_payload(message))

    async def _patch_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        self._edit(message, payload or {}, files)
        await self._echo_update(message)
        return json_response(self._message_payload(message))

    async def _delete_hook_message(self, request, match, payload, files) -> web.Response:
        message = self._hook_message(self._acked(match), match["message"])
        await self._delete(message)
        return web.Response(status=204)


def _guild_of(channel: dict[str, Any]) -> int | None:
    return int(channel["guild_id"]) if channel.get("guild_id") else None
