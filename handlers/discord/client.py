"""The Discord front end's client: one gateway connection, its events and the command tree."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import OrderedDict
from typing import Any

import discord

from bot.faces import ChatFace
from bot.teams import Teams
from handlers.discord import commands, comparison, corrections, events

logger = logging.getLogger(__name__)

# Events whose redelivery would answer or vote twice (interactions: FinetuneTree).
_ONCE_ONLY = frozenset({"message", "raw_reaction_add", "raw_reaction_remove"})
_REMEMBERED_DELIVERIES = 10_000
MEMBERSHIP_SECONDS = 600  # how long "shares a configured server" is remembered for DMs


def intents() -> discord.Intents:
    # Message content is the one privileged intent needed (and the only one the README asks
    # people to enable); asking for members or presences would make Discord refuse the login.
    wanted = discord.Intents.default()
    wanted.message_content = True
    return wanted


class DiscordBot(discord.Client):
    def __init__(self, teams: Teams) -> None:
        # Voice is never used; without this discord.py warns at every start that it can't be.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Nothing the bot sends pings anyone unless a send says so itself: model text and
        # echoed input can hold `@everyone`, role and user mentions.
        super().__init__(intents=intents(), allowed_mentions=discord.AllowedMentions.none())
        self.teams = teams
        # The first team's face: the deployment's settings, and interactions seen once.
        self.core = core = teams.face_of_default
        settings = core.settings
        self._guilds = settings.discord_guilds
        self._sharing: dict[int, tuple[float, bool]] = {}  # user -> (until, shares a server)
        self.tree = commands.FinetuneTree(self)
        self.tree.add_command(commands.FinetuneCommands(self))
        self.tree.add_command(corrections.improve_reply_command(self))
        self._deliveries: OrderedDict[tuple[str, int], None] = OrderedDict()
        self.logged_in = asyncio.Event()

    # Start-up ----------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        self.logged_in.set()
        # Comparison buttons name their pair in the custom id, so any process answers them.
        self.add_dynamic_items(comparison.PickButton, comparison.PromoteButton)
        try:
            # Only the configured servers get /finetune (a server's commands appear at once;
            # global ones would also show in every other server that added the bot).
            for guild_id in sorted(self._guilds):
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
        except discord.HTTPException as error:
            logger.error(
                "discord: could not register /finetune (%s); was the bot invited with the "
                "applications.commands scope?",
                error.status,
            )

    async def close(self) -> None:
        # discord.py announces readiness a moment after connecting; a close in that moment
        # would leave the announcing task running against a closed client.
        ready = getattr(self._connection, "_ready_task", None)
        if ready is not None:
            ready.cancel()
        await super().close()

    async def on_ready(self) -> None:
        logger.info("discord: connected as %s (%s)", self.user, self.user.id if self.user else "")

    # Events ------------------------------------------------------------------------------

    def dispatch(self, event: str, /, *args: Any, **kwargs: Any) -> None:
        # A RESUME replays events with their original sequence numbers, and Discord delivers
        # at least once; an event seen before in this session is dropped here.
        if event in _ONCE_ONLY and self._is_redelivery():
            logger.info("discord: skipped a repeated %s", event)
            return
        super().dispatch(event, *args, **kwargs)

    def _is_redelivery(self) -> bool:
        ws = self.ws
        if ws is None or ws.sequence is None or ws.session_id is None:
            return False
        delivery = (ws.session_id, ws.sequence)
        if delivery in self._deliveries:
            return True
        self._deliveries[delivery] = None
        if len(self._deliveries) > _REMEMBERED_DELIVERIES:
            self._deliveries.popitem(last=False)
        return False

    async def on_message(self, message: discord.Message) -> None:
        await events.handle_message(self, message)

    async def on_raw_reaction_add(self, payload: discord.RawReactionActionEvent) -> None:
        await events.handle_reaction(self, payload)

    async def on_raw_reaction_remove(self, payload: discord.RawReactionActionEvent) -> None:
        await events.handle_reaction(self, payload)

    async def on_raw_message_delete(self, payload: discord.RawMessageDeleteEvent) -> None:
        await events.handle_deletion(
            self, payload.guild_id, payload.channel_id, {payload.message_id}
        )

    async def on_raw_bulk_message_delete(self, payload: discord.RawBulkMessageDeleteEvent) -> None:
        await events.handle_deletion(
            self, payload.guild_id, payload.channel_id, payload.message_ids
        )

    # What the handlers ask -----------------------------------------------------------------

    def is_admin(self, interaction: discord.Interaction, core: ChatFace) -> bool:
        """An admin of `core`'s team: DISCORD_FINETUNE_ADMINS (the first team's), or Manage
        Server on a configured server the command came from (the owner of any other server
        that added the bot has it there too)."""
        if str(interaction.user.id) in core.settings.discord_finetune_admins:
            return True
        # The interaction carries the member's resolved permissions, so no member cache (and
        # no members intent) is needed; channel overwrites can't grant Manage Server.
        return self.serves(interaction.guild_id) and interaction.permissions.manage_guild

    def serves(self, guild_id: int | None) -> bool:
        """A configured server (DISCORD_GUILD_IDS); False for DMs and any other server."""
        return guild_id is not None and guild_id in self._guilds

    async def may_talk(self, guild_id: int | None, user_id: int) -> bool:
        """Served here: in a configured server, or in a DM with someone who is a member of
        one (asked of Discord's REST API, which needs no members intent, and remembered)."""
        return await self.home(guild_id, user_id) is not None

    async def home(self, guild_id: int | None, user_id: int) -> int | None:
        """The configured server an event belongs to: its own, or for a DM the first one the
        person is a member of; None when not served here."""
        if guild_id is not None:
            return guild_id if self.serves(guild_id) else None
        until, shared = self._sharing.get(user_id, (0.0, None))
        if time.monotonic() < until:
            return shared
        shared = None
        for guild in sorted(self._guilds):
            try:
                await self.http.get_member(guild, user_id)
            except discord.NotFound:
                continue
            except discord.HTTPException:
                return None  # not known now; asked again next time
            shared = guild
            break
        self._sharing[user_id] = (time.monotonic() + MEMBERSHIP_SECONDS, shared)
        return shared

    async def face(self, guild_id: int | None, user_id: int) -> ChatFace | None:
        """The face of the team an event belongs to (see `home`); None when not served."""
        if not self.teams.many:
            return self.core if await self.may_talk(guild_id, user_id) else None
        home = await self.home(guild_id, user_id)
        return None if home is None else await self.teams.face(f"discord:{home}")

    def is_addressed(self, message: discord.Message) -> bool:
        """DMs always; elsewhere a mention of the bot or a reply to one of its messages."""
        if message.guild is None:
            return True
        if self.user in message.mentions:
            return True
        replied = message.reference.resolved if message.reference else None
        return isinstance(replied, discord.Message) and replied.author.id == self.user.id

    def without_own_mention(self, content: str) -> str:
        return re.sub(rf"<@!?{self.user.id}>", "", content)

    def may_judge(self, payload: discord.RawReactionActionEvent) -> bool:
        """A reaction by a person on what may be a bot reply (asked before its team is)."""
        if self.user is None or payload.user_id == self.user.id:
            return False  # the bot's own reactions are nobody's judgement
        # Only the bot's replies can be turns (removals carry no author; the turn lookup decides).
        author = payload.message_author_id
        return author is None or author == self.user.id

    def judgement(self, payload: discord.RawReactionActionEvent, core: ChatFace) -> str | None:
        """ "vote" or "veto" for a reaction that judges a bot reply in `core`'s team (whose
        admins may have chosen its emoji), else None."""
        name = events.emoji_name(payload.emoji.name or "")
        settings = core.settings
        if name in {events.emoji_name(e) for e in settings.discord_reject_reactions}:
            return "veto"
        if name in {events.emoji_name(e) for e in settings.discord_curate_reactions}:
            return "vote"
        return None
