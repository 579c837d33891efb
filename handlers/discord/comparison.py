"""Comparisons on Discord: each pair as an embed with A / B / Same buttons, and the gate's
announcements with the admins' promote button. Buttons are dynamic items (their custom id
names the pair), so they keep working after a restart."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.comparison.views import PICK_LABELS, WITHDRAWN, answer_figures, pair_view
from handlers.discord.commands import caller_of
from handlers.discord.replies import NO_MENTIONS
from storage.comparisons import ComparedPair, Comparison

if TYPE_CHECKING:
    from handlers.discord.client import DiscordBot

logger = logging.getLogger(__name__)

FIELD_CHARS = 1000  # an embed field holds 1,024 characters


class PickButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"cmp:(?P<pair>[\w-]+):(?P<pick>a|b|same|bad)",
):
    def __init__(self, pair_id: str, pick: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=PICK_LABELS[pick],
                style=discord.ButtonStyle.secondary,
                custom_id=f"cmp:{pair_id}:{pick}",
            )
        )
        self.pair_id, self.pick = pair_id, pick

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> PickButton:
        return cls(match["pair"], match["pick"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: DiscordBot = interaction.client
        core = await bot.face(interaction.guild_id, interaction.user.id)
        if core is None:
            return
        text = await core.commands.pick(self.pair_id, caller_of(bot, core, interaction), self.pick)
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


class PromoteButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"cmp-promote:(?P<id>[\w-]+)"
):
    def __init__(self, comparison_id: str) -> None:
        super().__init__(
            discord.ui.Button(
                label="Promote the new model",
                style=discord.ButtonStyle.primary,
                custom_id=f"cmp-promote:{comparison_id}",
            )
        )
        self.comparison_id = comparison_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match) -> PromoteButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        bot: DiscordBot = interaction.client
        core = await bot.face(interaction.guild_id, interaction.user.id)
        if core is None:
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        text = await core.commands.promote(self.comparison_id, caller_of(bot, core, interaction))
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


def pair_embed(comparison: Comparison, pair: ComparedPair, number: int) -> discord.Embed:
    view = pair_view(comparison, pair, number)
    embed = discord.Embed(title=view.title, description=_cut(view.asked, 500))
    for label, answer in view.sides:
        text = _cut(answer.text, FIELD_CHARS) if answer.text else "—"
        embed.add_field(name=f"{label} · {answer_figures(answer)}"[:256], value=text, inline=False)
    if view.judge:
        embed.set_footer(text=view.judge)
    return embed


class DiscordComparisonReporter:
    def __init__(self, client: DiscordBot) -> None:
        self._client = client

    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        view = discord.ui.View(timeout=None)
        for pick in PICK_LABELS:
            view.add_item(PickButton(pair.id, pick))
        posted = await self._channel(comparison).send(
            embed=pair_embed(comparison, pair, number),
            view=view,
            reference=self._thread(comparison),
        )
        return str(posted.id)

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        message = self._channel(comparison).get_partial_message(int(pair.message_id))
        try:
            await message.edit(content=WITHDRAWN, embed=None, view=None)
        except discord.HTTPException as error:
            logger.warning("discord: a removed pair was not taken down (%s)", error)

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        view = discord.ui.View(timeout=None)
        if promote:
            view.add_item(PromoteButton(comparison.id))
        try:
            await self._channel(comparison).send(
                text,
                view=view,
                reference=self._thread(comparison),
                allowed_mentions=NO_MENTIONS,
            )
        except discord.HTTPException as error:
            logger.warning("discord: comparison announcement not posted (%s)", error)

    def _channel(self, comparison: Comparison) -> discord.PartialMessageable:
        return self._client.get_partial_messageable(int(comparison.channel))

    def _thread(self, comparison: Comparison) -> discord.PartialMessage | None:
        # Discord has no thread under a message here: replies to the job's message instead.
        if comparison.thread_id is None:
            return None
        return self._channel(comparison).get_partial_message(int(comparison.thread_id))


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
