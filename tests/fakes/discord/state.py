"""The guilds the fake hosts and everything stored in them: ids, users and members, channels
(text, threads, DMs), messages and their reactions."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.fakes.discord.models import (
    Attachment,
    BotReaction,
    CommandSync,
    Followup,
    HostedGuild,
    InteractionCallback,
    InteractionState,
    StoredMessage,
    TypingCall,
)
from tests.fakes.discord.protocol import DISCORD_EPOCH_MS, iso, utcnow
from tests.fakes.discord.rest import unknown

_MENTION = re.compile(r"<@!?(\d+)>")


class StoredState:
    """FakeDiscord's stored guilds, users, channels and messages, and what the bot did to them.

    `guild_id`, `channel_id`, `thread_id` and `bot_role_id` are the first guild's; `add_guild`
    hosts more.
    """

    bot_user_id = 1_200_000_000_000_000_001
    application_id = 1_200_000_000_000_000_002
    guild_id = 1_200_000_000_000_000_010
    channel_id = 1_200_000_000_000_000_020
    thread_id = 1_200_000_000_000_000_030
    owner_id = 1_200_000_000_000_000_040
    bot_role_id = 1_200_000_000_000_000_050
    bot_name = "finetune-bot"
    bot_token = "fake-discord-bot-token"

    def _init_state(self) -> None:
        self.messages: dict[int, StoredMessage] = {}
        self.typing_calls: list[TypingCall] = []
        self.bot_reactions: list[BotReaction] = []
        self.command_syncs: list[CommandSync] = []
        self.interaction_callbacks: list[InteractionCallback] = []
        self.followups: list[Followup] = []
        self.users: dict[int, dict[str, Any]] = {}
        self.member_permissions: dict[int, int] = {}
        self.channels: dict[int, dict[str, Any]] = {}
        self.guilds: dict[int, HostedGuild] = {}  # in the order READY lists them
        self._dm_channels: dict[int, int] = {}
        self._commands: dict[int | None, dict[str, dict[str, Any]]] = {}
        self._interactions: dict[int, InteractionState] = {}
        self._last_snowflake = 0
        self._created = utcnow()

        self.user(self.bot_user_id, self.bot_name, bot=True)
        self.user(self.owner_id, "owner")
        first = HostedGuild(self.guild_id, "Fake Guild", self.channel_id, self.bot_role_id)
        self._host_guild(first)
        self.channels[self.thread_id] = self._thread_channel(
            self.thread_id, "bot-thread", self.channel_id, self.owner_id, 11
        )

    def add_guild(self) -> tuple[int, int]:
        """Host one more guild: the bot installed in a second Discord server.

        The new guild has its own id, @everyone role, bot role and one text channel;
        the bot and every user the fake knows (now or later) are members of it.
        Returns `(guild_id, channel_id)`. Call it before the client identifies: READY
        and the GUILD_CREATEs list the guilds hosted at IDENTIFY time (a client that
        is already connected sees the new guild only after its next IDENTIFY).
        """
        guild_id, channel_id = self.new_id(), self.new_id()
        name = f"Fake Guild {len(self.guilds) + 1}"
        self._host_guild(HostedGuild(guild_id, name, channel_id, self.new_id()))
        return guild_id, channel_id

    def _host_guild(self, guild: HostedGuild) -> None:
        self.guilds[guild.id] = guild
        self.channels[guild.channel_id] = self._text_channel(guild.channel_id, "general", guild.id)

    def _hosted(self, guild_id: int | None) -> HostedGuild:
        """The hosted guild `guild_id` (None: the first one), for test-side calls."""
        guild_id = self.guild_id if guild_id is None else int(guild_id)
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise AssertionError(f"no guild {guild_id} in the fake") from None

    def new_id(self) -> int:
        """A fresh snowflake: current time in the high bits, always increasing."""
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        self._last_snowflake = max(now_ms << 22, self._last_snowflake + 1)
        return self._last_snowflake

    def user(self, user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
        """The user object for `user_id`, created on first use; every user is a member of
        every hosted guild."""
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

    def member(
        self, user_id: int, *, with_user: bool = True, guild_id: int | None = None
    ) -> dict[str, Any]:
        """The member object for `user_id` in `guild_id` (default: the first guild);
        interactions add `permissions`."""
        guild = self._hosted(guild_id)
        roles = [str(guild.bot_role_id)] if user_id == self.bot_user_id else []
        member: dict[str, Any] = {
            "roles": roles,
            "joined_at": iso(self._created),
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

    def _channel(self, channel_id: int) -> dict[str, Any]:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise unknown("Channel", 10003)
        return channel

    def _text_channel(
        self, channel_id: int, name: str, guild_id: int | None = None
    ) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id or self.guild_id),
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
        # A thread lives in its parent channel's guild.
        parent = self.channels.get(parent_id) or {}
        return {
            "id": str(thread_id),
            "type": type_,
            "guild_id": parent.get("guild_id") or str(self.guild_id),
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
                "archive_timestamp": iso(utcnow()),
                "locked": False,
                "create_timestamp": iso(utcnow()),
            },
        }

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
            created_at=utcnow(),
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

    def _reference(self, target: StoredMessage) -> dict[str, Any]:
        reference = {"type": 0, "message_id": str(target.id), "channel_id": str(target.channel_id)}
        if target.guild_id:
            reference["guild_id"] = str(target.guild_id)
        return reference

    def _mentions_in(self, content: str) -> list[dict[str, Any]]:
        ids = dict.fromkeys(int(m) for m in _MENTION.findall(content or ""))
        return [self.user(i) for i in ids if i in self.users]

    def _react(self, message: StoredMessage, emoji: dict[str, Any], user_id: int, *, add: bool):
        key = f"{emoji['name']}:{emoji['id']}" if emoji.get("id") else emoji["name"]
        _, users = message.reactions.setdefault(key, (emoji, set()))
        if add:
            users.add(user_id)
        else:
            users.discard(user_id)
