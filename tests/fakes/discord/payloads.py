"""Discord's JSON objects built from the stored state: guilds and their roles, GUILD_CREATE,
the application, messages and reactions."""

from __future__ import annotations

from typing import Any

from tests.fakes.discord.models import StoredMessage
from tests.fakes.discord.protocol import BOT_ROLE_PERMISSIONS, EVERYONE_PERMISSIONS, iso


class Payloads:
    """FakeDiscord's builders of the JSON it sends over REST and the gateway."""

    def _roles(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        guild = self._hosted(guild_id)

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
            role(guild.id, "@everyone", EVERYONE_PERMISSIONS, 0),
            role(
                guild.bot_role_id,
                self.bot_name,
                BOT_ROLE_PERMISSIONS,
                1,
                managed=True,
                tags={"bot_id": str(self.bot_user_id)},
            ),
        ]

    def _guild(self, guild_id: int | None = None) -> dict[str, Any]:
        guild = self._hosted(guild_id)
        return {
            "id": str(guild.id),
            "name": guild.name,
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
            "roles": self._roles(guild.id),
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": str(guild.channel_id),
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

    def _guild_create(self, guild_id: int | None = None) -> dict[str, Any]:
        guild = self._hosted(guild_id)
        guild_channels = [c for c in self.channels.values() if c.get("guild_id") == str(guild.id)]
        return {
            **self._guild(guild.id),
            "unavailable": False,
            "large": False,
            "joined_at": iso(self._created),
            "member_count": len(self.users),
            # Without the members intent Discord sends only the bot's own member.
            "members": [self.member(self.bot_user_id, guild_id=guild.id)],
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

    def _message_payload(
        self, m: StoredMessage, *, gateway: bool = False, nested: bool = False
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(m.id),
            "channel_id": str(m.channel_id),
            "author": m.author,
            "content": m.content,
            "timestamp": iso(m.created_at),
            "edited_timestamp": iso(m.edited_at) if m.edited_at else None,
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
                payload["member"] = self.member(m.author_id, with_user=False, guild_id=m.guild_id)
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
