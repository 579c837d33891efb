"""`/finetune` as a Discord application command group: deferred at once, run by the core,
answered ephemerally with embeds (and the dataset file for `export`)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.commands import results, wording
from bot.commands.language import ParsedCommand
from bot.commands.service import SOMETHING_FAILED
from bot.commands.table import COMMANDS, MAX_BETA, MAX_EPOCHS, MAX_HOLDOUT, METHODS
from bot.dataset.tempfiles import TempFile
from bot.dataset.validation import DatasetReport
from bot.errors import REDIS_DOWN
from bot.faces import ChatFace
from handlers.discord import events

if TYPE_CHECKING:
    from handlers.discord.client import DiscordBot

from handlers.discord.embeds import help_embed, models_embed, report_embed, status_embed

logger = logging.getLogger(__name__)

# Attachments bots may send without a boosted server (Discord's limit since 2024).
FILE_LIMIT_BYTES = 10 * 1024 * 1024
MAX_CHOICES = 25  # Discord shows at most 25 autocomplete choices

Epochs = app_commands.Range[int, 1, MAX_EPOCHS]
Holdout = app_commands.Range[float, 0.0, MAX_HOLDOUT]
Beta = app_commands.Range[float, 0.0, MAX_BETA]


METHOD_CHOICES = [app_commands.Choice(name=method, value=method) for method in METHODS]


def option_help(command: str) -> dict[str, str]:
    """Each option's help from the table, as Discord shows it (at most 100 characters)."""
    return {option.name: option.help[:100] for option in COMMANDS[command].options}


class FinetuneTree(app_commands.CommandTree):
    """The command tree, answering each interaction once even if the gateway repeats it."""

    def __init__(self, client: DiscordBot) -> None:
        super().__init__(client)
        self._core = client.core  # interaction ids are the deployment's: seen once, anywhere

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        served = await self.client.may_talk(interaction.guild_id, interaction.user.id)
        if not served:
            # Another server that added the bot (its owner has Manage Server there), or a DM
            # from someone in none of ours: refused before anything runs or is spent.
            await interaction.response.send_message(events.NOT_SERVED, ephemeral=True)
            return False
        try:
            return await self._core.seen.first_time(f"discord-interaction-{interaction.id}")
        except REDIS_DOWN:
            return True  # the command itself will say that storage is down


class FinetuneCommands(app_commands.Group):
    """The group's subcommands mirror the slash command's words and options in Slack."""

    def __init__(self, client: DiscordBot) -> None:
        super().__init__(name="finetune", description="Curate this bot's dataset and tune it")
        self._client = client

    async def _run(self, interaction: discord.Interaction, name: str, **given: object) -> None:
        # Discord shows "the application did not respond" after 3 s: defer first.
        await interaction.response.defer(ephemeral=True, thinking=True)
        options = {key: str(value) for key, value in given.items() if value is not None}
        # Words Slack takes bare (`use <model>`, `export dpo`) are arguments, not options.
        bare = {
            "use": "model",
            "export": "kind",
            "compare": "prompt",
            "migrate": "words",
            "policy": "words",
            "link": "code",
            "settings": "words",
        }.get(name)
        arguments = [options.pop(bare)] if bare in options else []
        core = await self._client.face(interaction.guild_id, interaction.user.id)
        if core is None:  # checked before (FinetuneTree), unless membership changed since
            await interaction.followup.send(events.NOT_SERVED, ephemeral=True)
            return
        caller = caller_of(self._client, core, interaction)
        result = await core.commands.run(ParsedCommand(name, options, arguments), caller)
        try:
            await _show(interaction, result)
        except discord.HTTPException:
            logger.exception("discord: could not show the /finetune answer")
            await interaction.followup.send(SOMETHING_FAILED, ephemeral=True)

    @app_commands.command(name="status", description=COMMANDS["status"].summary)
    async def status(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "status")

    @app_commands.command(name="validate", description=COMMANDS["validate"].summary)
    @app_commands.describe(**option_help("validate"))
    @app_commands.choices(method=METHOD_CHOICES)
    async def validate(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        epochs: Epochs | None = None,
        method: str | None = None,
        provider: str | None = None,
    ) -> None:
        await self._run(
            interaction, "validate", provider=provider, model=model, epochs=epochs, method=method
        )

    @app_commands.command(name="start", description=COMMANDS["start"].summary)
    @app_commands.describe(**option_help("start"))
    @app_commands.choices(method=METHOD_CHOICES)
    async def start(
        self,
        interaction: discord.Interaction,
        model: str | None = None,
        epochs: Epochs | None = None,
        suffix: str | None = None,
        holdout: Holdout | None = None,
        method: str | None = None,
        beta: Beta | None = None,
        provider: str | None = None,
    ) -> None:
        await self._run(
            interaction,
            "start",
            provider=provider,
            model=model,
            epochs=epochs,
            suffix=suffix,
            holdout=holdout,
            method=method,
            beta=beta,
        )

    @app_commands.command(name="cancel", description=COMMANDS["cancel"].summary)
    async def cancel(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "cancel")

    @app_commands.command(name="models", description=COMMANDS["models"].summary)
    async def models(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "models")

    @app_commands.command(name="use", description=COMMANDS["use"].summary)
    @app_commands.describe(
        model="a model id (the ones used before are suggested)", **option_help("use")
    )
    async def use(
        self, interaction: discord.Interaction, model: str, provider: str | None = None
    ) -> None:
        await self._run(interaction, "use", model=model, provider=provider)

    @app_commands.command(name="compare", description=COMMANDS["compare"].summary)
    @app_commands.describe(prompt="what to ask both models", **option_help("compare"))
    async def compare(
        self,
        interaction: discord.Interaction,
        prompt: str,
        model: str | None = None,
        provider: str | None = None,
    ) -> None:
        await self._run(interaction, "compare", prompt=prompt, model=model, provider=provider)

    @app_commands.command(name="providers", description=COMMANDS["providers"].summary)
    async def providers(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "providers")

    @app_commands.command(name="migrate", description=COMMANDS["migrate"].summary)
    @app_commands.describe(estimate="only show the plan and its cost", **option_help("migrate"))
    async def migrate(
        self,
        interaction: discord.Interaction,
        estimate: bool = False,
        provider: str | None = None,
        model: str | None = None,
    ) -> None:
        await self._run(
            interaction,
            "migrate",
            provider=provider,
            model=model,
            words="estimate" if estimate else None,
        )

    @app_commands.command(name="policy", description=COMMANDS["policy"].summary)
    @app_commands.describe(
        turn="turn the policy off, or back to the bot's settings", **option_help("policy")
    )
    @app_commands.choices(
        turn=[
            app_commands.Choice(name="off", value="off"),
            app_commands.Choice(name="back to the settings", value="reset"),
        ]
    )
    async def policy(
        self,
        interaction: discord.Interaction,
        every: str | None = None,
        schedule: str | None = None,
        budget: str | None = None,
        turn: str | None = None,
    ) -> None:
        await self._run(
            interaction, "policy", every=every, schedule=schedule, budget=budget, words=turn
        )

    @app_commands.command(name="ledger", description=COMMANDS["ledger"].summary)
    async def ledger(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "ledger")

    @app_commands.command(name="rollback", description=COMMANDS["rollback"].summary)
    async def rollback(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "rollback")

    @app_commands.command(name="export", description=COMMANDS["export"].summary)
    @app_commands.describe(kind="the chat examples (default) or the preference pairs")
    @app_commands.choices(
        kind=[
            app_commands.Choice(name="chat examples (sft)", value="sft"),
            app_commands.Choice(name="preference pairs (dpo)", value="dpo"),
        ]
    )
    async def export(self, interaction: discord.Interaction, kind: str | None = None) -> None:
        await self._run(interaction, "export", kind=kind)

    @app_commands.command(name="settings", description=COMMANDS["settings"].summary)
    @app_commands.describe(
        reset="back to the deployment's prompt and emoji", **option_help("settings")
    )
    async def settings(
        self,
        interaction: discord.Interaction,
        prompt: str | None = None,
        emoji: str | None = None,
        reset: bool = False,
    ) -> None:
        words = "reset" if reset else None
        await self._run(interaction, "settings", prompt=prompt, emoji=emoji, words=words)

    @app_commands.command(name="link", description=COMMANDS["link"].summary)
    @app_commands.describe(code="the code `/finetune link` showed in the place to join")
    async def link(self, interaction: discord.Interaction, code: str | None = None) -> None:
        await self._run(interaction, "link", code=code)

    @app_commands.command(name="forget-me", description=COMMANDS["forget-me"].summary)
    async def forget_me(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "forget-me")

    @app_commands.command(name="include-me", description=COMMANDS["include-me"].summary)
    async def include_me(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "include-me")

    @app_commands.command(name="help", description=COMMANDS["help"].summary)
    async def help(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "help")

    @validate.autocomplete("model")
    @start.autocomplete("model")
    async def _base_models(
        self, _: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        return _choices(self._client.core.commands.base_model_names(), typed)

    @use.autocomplete("model")
    @compare.autocomplete("model")
    async def _used_models(
        self, interaction: discord.Interaction, typed: str
    ) -> list[app_commands.Choice[str]]:
        try:
            core = await self._client.face(interaction.guild_id, interaction.user.id)
            return _choices(await core.commands.model_names(), typed) if core else []
        except REDIS_DOWN:
            return []


def caller_of(
    client: DiscordBot, core: ChatFace, interaction: discord.Interaction
) -> results.Caller:
    """Who pressed or typed, as `core`'s team sees them; the front end says who is an admin."""
    return results.Caller(
        "discord",
        str(interaction.user.id),
        client.is_admin(interaction, core),
        str(interaction.channel_id or ""),
        f"discord:{interaction.guild_id}" if interaction.guild_id else "",
    )


def _choices(names: list[str], typed: str) -> list[app_commands.Choice[str]]:
    matching = [name for name in names if typed.lower() in name.lower()]
    return [app_commands.Choice(name=name, value=name) for name in matching[:MAX_CHOICES]]


async def _show(interaction: discord.Interaction, result: results.CommandResult) -> None:
    send = interaction.followup.send
    match result:
        case results.Sentence(text):
            await send(text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        case results.Help(problem):
            await send(embed=help_embed(problem), ephemeral=True)
        case results.StatusSummary():
            await send(embed=status_embed(result), ephemeral=True)
        case DatasetReport():
            await send(embed=report_embed(result), ephemeral=True)
        case results.ModelList(current, history, records):
            await send(embed=models_embed(current, history, records), ephemeral=True)
        case results.ProviderList():
            text = "\n".join(wording.provider_lines(result))
            await send(text[:2000], ephemeral=True, allowed_mentions=discord.AllowedMentions.none())
        case results.DatasetFile():
            await _send_file(interaction, result)


async def _send_file(interaction: discord.Interaction, dataset: results.DatasetFile) -> None:
    # Ephemeral: the file reaches only the person who asked, like Slack's DM.
    limit = interaction.guild.filesize_limit if interaction.guild else FILE_LIMIT_BYTES
    with dataset.file as file:
        if file.size <= limit:
            await _attach(interaction, dataset, file, dataset.filename)
            return
        # JSONL shrinks ~10x; compressed from disk to disk, off the event loop.
        with await asyncio.to_thread(file.gzipped) as packed:
            if packed.size <= limit:
                await _attach(interaction, dataset, packed, f"{dataset.filename}.gz")
                return
            await interaction.followup.send(
                f"The dataset ({dataset.examples:,} examples) is larger than Discord lets me "
                f"send here, even compressed ({packed.size / 1e6:,.1f} MB), so I can't attach it.",
                ephemeral=True,
            )


async def _attach(
    interaction: discord.Interaction, dataset: results.DatasetFile, file: TempFile, filename: str
) -> None:
    # discord.py reads the attachment from disk as it sends it.
    await interaction.followup.send(
        f"Here it is: {wording.file_contents(dataset)}.",
        file=discord.File(file.path, filename=filename),
        ephemeral=True,
    )
