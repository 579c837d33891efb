"""Test-side API for what people do in Discord (post, edit, delete, react, run commands, press
buttons, submit modals), delivered to the bot as gateway events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tests.fakes.discord.interactions import _guild_of
from tests.fakes.discord.models import Invocation
from tests.fakes.discord.protocol import DEFAULT, REPLY


class UserActions:
    """FakeDiscord's injected user actions, each dispatched to the bot over the gateway."""

    async def create_thread(
        self, name: str, *, parent_id: int | None = None, owner_id: int | None = None
    ) -> int:
        """Add a public thread in `parent_id` (default: the first guild's text channel) and
        its guild (dispatching THREAD_CREATE when a client is connected)."""
        thread_id = self.new_id()
        parent_id = parent_id or self.channel_id
        thread = self._thread_channel(thread_id, name, parent_id, owner_id or self.owner_id, 11)
        self.channels[thread_id] = thread
        await self._dispatch("THREAD_CREATE", {**thread, "newly_created": True}, wait=False)
        return thread_id

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

        It lands in `channel_id` (any guild's channel or thread, or a DM; default: the
        first guild's text channel) and carries that channel's guild. Mentions come
        from `<@id>` in `content`; `mention_bot` adds the bot to `mentions` even when
        the content does not spell it out. `reply_to` (a stored message id) makes a
        type-19 reply with `referenced_message`; like Discord's client it pings the
        replied-to author unless `ping_reply=False`.
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
            payload["member"] = self.member(user_id, guild_id=int(payload["guild_id"]))
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
        guild_id: int | None = None,
    ) -> Invocation:
        """A user runs `/name subcommand option:value...`: INTERACTION_CREATE type 2.

        It happens in `channel_id`, else in the user's DM (`in_dm`), else in the text
        channel of `guild_id` (default: the first guild); a given `guild_id` must be
        the channel's. The command synced to the channel's guild is sent, else the
        global one. Option types come from the synced command, else from the Python
        values. `permissions` defaults to what `set_permissions` stored (else 0).
        """
        channel = self._interaction_channel(channel_id, guild_id, in_dm, user_id)
        data = self._command_data(name, subcommand, options or {}, None, _guild_of(channel))
        return await self._interact(2, data, user_id, permissions, channel, locale)

    async def invoke_message_command(
        self,
        name: str,
        message_id: int,
        *,
        user_id: int,
        permissions: int | None = None,
        locale: str = "en-US",
        guild_id: int | None = None,
    ) -> Invocation:
        """A user picks `name` in a message's Apps menu: INTERACTION_CREATE type 2, data type 3.

        It happens in the message's channel and guild (a given `guild_id` must be it).
        """
        message = self.get_message(message_id)
        channel = self._interaction_channel(message.channel_id, guild_id, False, user_id)
        in_guild = message.guild_id is not None and name in self._commands.get(message.guild_id, {})
        scope = message.guild_id if in_guild else None
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
        return await self._interact(2, data, user_id, permissions, channel, locale)

    async def submit_modal(
        self,
        opened_by: Invocation,
        values: dict[str, str],
        *,
        user_id: int,
        permissions: int | None = None,
        guild_id: int | None = None,
    ) -> Invocation:
        """Submit the modal an interaction answered with (callback type 9): type 5, with
        `values` by the text inputs' custom ids, where that interaction happened (a given
        `guild_id` must be its guild)."""
        [modal] = [c for c in self.callbacks_of(opened_by) if c.type == 9]
        state = self._interactions[opened_by.id]
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()
        ]
        data = {"custom_id": modal.data["custom_id"], "components": rows}
        channel = self._interaction_channel(state.channel_id, guild_id, False, user_id)
        return await self._interact(5, data, user_id, permissions, channel, "en-US")

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
        guild_id: int | None = None,
    ) -> Invocation:
        """The user is typing option `focused`: INTERACTION_CREATE type 4 (where, as for
        `invoke_command`)."""
        channel = self._interaction_channel(channel_id, guild_id, in_dm, user_id)
        data = self._command_data(name, subcommand, options, focused, _guild_of(channel))
        return await self._interact(4, data, user_id, permissions, channel, locale)

    async def press_button(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        permissions: int | None = None,
        guild_id: int | None = None,
    ) -> Invocation:
        """A user presses a button on a stored message: INTERACTION_CREATE type 3, in the
        message's channel and guild (a given `guild_id` must be it)."""
        message = self.get_message(message_id)
        channel = self._interaction_channel(message.channel_id, guild_id, False, user_id)
        data = {"custom_id": custom_id, "component_type": 2}
        return await self._interact(3, data, user_id, permissions, channel, "en-US", message)
