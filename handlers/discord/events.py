"""Discord events: messages addressed to the bot get answers; curation reactions vote."""

from __future__ import annotations

import contextlib
import logging
import re
import time
import unicodedata
from typing import TYPE_CHECKING

import discord

from bot.conversation.chat import ANSWER_FAILED_APOLOGY, Incoming
from bot.conversation.curation import VOTE_NOT_SAVED
from bot.errors import REDIS_DOWN, StorageUnavailable
from handlers.discord.replies import StreamedReply
from storage.schemas import MessageKey

if TYPE_CHECKING:
    from bot.faces import ChatFace
    from handlers.discord.client import DiscordBot

logger = logging.getLogger(__name__)

NOT_SERVED = (
    "I only work in the servers my operator set me up for, and this is not one of them, so I "
    "don't answer or record anything here."
)
# What people write to a bot: plain messages and replies. Joins, pins, boosts and the other
# system messages are not.
CONVERSATION_TYPES = frozenset({discord.MessageType.default, discord.MessageType.reply})
# Skin tones (U+1F3FB..U+1F3FF) and the emoji variation selector do not change the vote.
_EMOJI_VARIANTS = re.compile("[\U0001f3fb-\U0001f3ff\ufe0f]")


def emoji_name(name: str) -> str:
    """👍🏽 -> 👍, `:goodbot:` -> goodbot: the form reactions and settings are compared in."""
    return _EMOJI_VARIANTS.sub("", unicodedata.normalize("NFC", name.strip().strip(":")))


async def handle_message(bot: DiscordBot, message: discord.Message) -> None:
    # Other bots (this one included) and webhooks talk to no one here; answering them loops.
    if message.author.bot or message.webhook_id is not None:
        return
    if message.type not in CONVERSATION_TYPES or not bot.is_addressed(message):
        return
    core = await bot.face(message.guild.id if message.guild else None, message.author.id)
    if core is None:
        # Another server that added the bot, or a DM from someone in none of ours: said once
        # per message, and nothing recorded or spent.
        with contextlib.suppress(discord.HTTPException):
            await message.reply(NOT_SERVED, mention_author=False)
        return
    # A gateway RESUME can deliver a message again; answer it once, whichever process saw it.
    # The claim lasts while the answer is written, so a crash mid-answer lets a redelivery in.
    event = f"discord-message-{message.id}"
    claimed = await _claim(core, event)
    if claimed is False:
        return
    incoming = _incoming(bot, message)
    reply = StreamedReply(message)
    holding = core.seen.working_on(event) if claimed else contextlib.nullcontext()
    try:
        async with holding, message.channel.typing():
            await core.chat.reply(incoming, reply)
    except Exception:
        logger.exception("discord: answering failed")
        await _end_with_apology(reply)


def _incoming(bot: DiscordBot, message: discord.Message) -> Incoming:
    channel = message.channel
    reference = message.reference
    in_thread_or_dm = isinstance(channel, discord.Thread | discord.DMChannel)
    return Incoming(
        platform="discord",
        team=str(message.guild.id) if message.guild else "",
        channel=str(channel.id),
        # Threads and DMs are one conversation each; in a channel a mention starts a new one,
        # and replying to one of the bot's messages continues (or branches) from that turn.
        thread_ts=str(channel.id) if in_thread_or_dm else str(message.id),
        follows_thread=in_thread_or_dm,
        reply_to=str(reference.message_id) if reference and reference.message_id else None,
        user=str(message.author.id),
        text=bot.without_own_mention(message.content),
        message_id=str(message.id),
    )


async def _claim(core: ChatFace, event: str) -> bool | None:
    """True: this process answers it; False: a repeat; None: storage down, answered anyway."""
    try:
        return await core.seen.claim(event)
    except REDIS_DOWN:
        logger.warning("discord: storage unavailable, cannot check for repeats")
        return None


async def _end_with_apology(reply: StreamedReply) -> None:
    try:
        await reply.fail(ANSWER_FAILED_APOLOGY)
    except discord.HTTPException:
        logger.warning("discord: could not finish the answer with an apology")


async def handle_reaction(bot: DiscordBot, payload: discord.RawReactionActionEvent) -> None:
    """A vote (REACTION_ADD) or its withdrawal (REACTION_REMOVE) on one of the bot's replies.

    Raw events, so replies no longer in discord.py's message cache count too. A removal names
    no message author: the turn lookup by message id decides whether it was the bot's reply.
    """
    if payload.guild_id is not None and not bot.serves(payload.guild_id):
        return
    if not bot.may_judge(payload):
        return
    core = await bot.face(payload.guild_id, payload.user_id)
    judgement = bot.judgement(payload, core) if core else None
    if judgement is None:
        return
    reply = MessageKey("discord", str(payload.channel_id), str(payload.message_id))
    added = payload.event_type == "REACTION_ADD"
    # Reaction events carry no time; this process sees one gateway session's events in order,
    # and redeliveries are dropped before they get here (DiscordBot.dispatch).
    saved = await core.votes.take(
        reply, str(payload.user_id), judgement, added, f"{time.time():.6f}"
    )
    if not saved:
        await _tell_vote_not_saved(bot, payload.user_id)


async def handle_deletion(
    bot: DiscordBot, guild_id: int | None, channel_id: int, message_ids: set[int]
) -> None:
    """Deleted messages (a person's or the bot's) take what holds their text with them: in the
    server's team, or for a DM (which names no person) in every team this process knows."""
    if guild_id is not None and not bot.serves(guild_id):
        return
    if guild_id is None or not bot.teams.many:
        faces = bot.teams.faces()
    else:
        faces = [await bot.teams.face(f"discord:{guild_id}")]
    for message_id in message_ids:
        for core in faces:
            try:
                await core.forgetting.message_deleted(
                    MessageKey("discord", str(channel_id), str(message_id))
                )
            except StorageUnavailable:
                logger.error("discord: a message was deleted but storage is unavailable")


async def _tell_vote_not_saved(bot: DiscordBot, user_id: int) -> None:
    # Discord has no ephemeral messages outside commands; a DM reaches only that person.
    try:
        user = bot.get_user(user_id) or await bot.fetch_user(user_id)
        await user.send(VOTE_NOT_SAVED)
    except discord.HTTPException:
        logger.warning("discord: could not tell the person their vote was not saved")
