""" "Improve this reply" on Discord: a message command (the Apps menu of a bot reply) opens a
modal with the reply's text; saving stores the correction as an example and a preference pair."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.conversation.curation import (
    CORRECTION_NOT_SAVED,
    CORRECTION_SAVED,
    NOT_A_REPLY,
    CorrectionRefused,
    correction_refusal,
)
from bot.errors import StorageUnavailable
from bot.faces import ChatFace
from storage.schemas import MessageKey

if TYPE_CHECKING:
    from handlers.discord.client import DiscordBot

logger = logging.getLogger(__name__)

# Discord's paragraph text input holds at most 4,000 characters.
TEXT_LIMIT = 4000
TOO_LONG_TO_EDIT = (
    "This reply is longer than Discord's 4,000-character text box, so it can't be edited here."
)


def improve_reply_command(client: DiscordBot) -> app_commands.ContextMenu:
    async def improve_reply(interaction: discord.Interaction, message: discord.Message) -> None:
        # The modal must open within 3 s of the click, so only a quick lookup comes first.
        if interaction.client.user is None or message.author.id != interaction.client.user.id:
            await _tell(interaction, NOT_A_REPLY)
            return
        core = await client.face(interaction.guild_id, interaction.user.id)
        if core is None:
            return  # refused before (FinetuneTree)
        reply = MessageKey("discord", str(message.channel.id), str(message.id))
        try:
            draft = await core.curation.correction_draft(reply)
        except StorageUnavailable:
            await _tell(interaction, CORRECTION_NOT_SAVED)
            return
        if draft is None:
            await _tell(interaction, NOT_A_REPLY)
        elif len(draft) > TEXT_LIMIT:
            await _tell(interaction, TOO_LONG_TO_EDIT)
        else:
            await interaction.response.send_modal(CorrectionModal(core, reply, draft))

    return app_commands.ContextMenu(name="Improve this reply", callback=improve_reply)


class CorrectionModal(discord.ui.Modal, title="Improve this reply"):
    text = discord.ui.TextInput(
        label="Better reply", style=discord.TextStyle.paragraph, max_length=TEXT_LIMIT
    )

    def __init__(self, core: ChatFace, reply: MessageKey, draft: str) -> None:
        super().__init__()
        self._core = core
        self._reply = reply
        self.text.default = draft

    async def on_submit(self, interaction: discord.Interaction) -> None:
        # Discord modals show no inline errors: the reason comes back privately instead.
        try:
            result = await self._core.curation.correct(
                self._reply, str(interaction.user.id), self.text.value
            )
        except CorrectionRefused as problem:
            await _tell(interaction, str(problem))
            return
        except StorageUnavailable:
            await _tell(interaction, CORRECTION_NOT_SAVED)
            return
        await _tell(interaction, correction_refusal(result.outcome) or CORRECTION_SAVED)


async def _tell(interaction: discord.Interaction, text: str) -> None:
    await interaction.response.send_message(text, ephemeral=True)
