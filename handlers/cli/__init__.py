"""The command line (`python -m bot …`): serve the chat front ends (the default), talk to the
bot in the terminal, and work with the dataset and fine-tuning jobs without Slack or Discord."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import click

from bot.commands.table import COMMANDS, EPOCHS, Option
from handlers.cli import chat as chat_session
from handlers.cli import dataset as dataset_commands
from handlers.cli import finetune as finetune_commands
from handlers.cli import runtime
from handlers.cli import teams as team_commands
from handlers.cli.runtime import set_verbose

logger = logging.getLogger(__name__)

Serve = Callable[[], None]


def option_type(option: Option) -> click.ParamType | type:
    """The click type of a table option: its range or choices, as the chat checks them."""
    if option.choices:
        return click.Choice(list(option.choices))
    if option.kind is int:
        return click.IntRange(option.low, option.high)
    if option.kind is float:
        return click.FloatRange(option.low, option.high)
    return str


as_json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of text."
)


def table_options(command: str) -> Callable[[Callable], Callable]:
    """`--name` for each of the command's options in the table (bot/commands/table.py)."""

    def decorate(function: Callable) -> Callable:
        for option in reversed(COMMANDS[command].options):
            function = click.option(f"--{option.name}", type=option_type(option), help=option.help)(
                function
            )
        return function

    return decorate


def _run(work: Coroutine[Any, Any, int]) -> None:
    """Run a command to its exit code. A failure nobody foresaw is one line here, never a
    traceback; `--verbose` puts the details in the log (stderr)."""
    try:
        code = asyncio.run(work)
    except (click.ClickException, click.Abort, SystemExit, KeyboardInterrupt):
        raise
    except Exception as error:
        logger.debug("cli: the command failed", exc_info=True)
        hint = (
            "the details are above"
            if logger.isEnabledFor(logging.DEBUG)
            else ("run it again with --verbose for the details")
        )
        click.echo(f"The command failed ({type(error).__name__}); {hint}.", err=True)
        code = 1
    sys.exit(code)


def build_cli(serve: Serve) -> click.Group:
    @click.group(
        invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]}
    )
    @click.option(
        "--verbose", "-v", is_flag=True, help="Log what happens (and any failure's details)."
    )
    @click.option(
        "--team",
        metavar="TEAM",
        help="With TEAMS=many: the team a command works on (`teams` lists them; default: the "
        "first).",
    )
    @click.pass_context
    def cli(context: click.Context, verbose: bool, team: str | None) -> None:
        """A Slack and Discord bot that your team fine-tunes from inside the chat.

        Without a command, serves the chat front ends whose tokens are set (`serve`).
        Every command uses REDIS_URL, or else the embedded Redis under DATA_DIR, like the bot.
        """
        if verbose:
            set_verbose()
        if team and context.invoked_subcommand in (None, "serve", "teams"):
            raise click.UsageError("--team is for the commands that work on one team.")
        runtime.chosen_team = team
        if context.invoked_subcommand is None:
            serve()

    @cli.command("serve")
    def serve_command() -> None:
        """Run the bot: Slack and/or Discord, whichever tokens are set."""
        serve()

    @cli.command()
    def chat() -> None:
        """Talk to the bot in the terminal (one line, one message; /help in the session)."""
        asyncio.run(chat_session.run_chat())

    @cli.group()
    def dataset() -> None:
        """The dataset: import, validate, export, list, show and remove examples."""

    @dataset.command("import")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--skip-invalid", is_flag=True, help="Import the valid lines, skip the rest.")
    @click.option("--model", help="Base model whose limits apply (default FINETUNE_BASE_MODEL).")
    @click.option("--no-redact", is_flag=True, help="A trusted file: store it unredacted.")
    def import_(file: Path, skip_invalid: bool, model: str | None, no_redact: bool) -> None:
        """Bring in a JSONL file of OpenAI chat examples; all or nothing unless --skip-invalid.
        What people wrote is redacted like chat (REDACT_PII) unless --no-redact."""
        _run(dataset_commands.import_file(file, skip_invalid, model, redact=not no_redact))

    @dataset.command()
    @click.argument(
        "file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path)
    )
    @click.option("--model", help="Base model to check against (default FINETUNE_BASE_MODEL).")
    @click.option("--epochs", type=option_type(EPOCHS), help=EPOCHS.help)
    @click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
    def validate(file: Path | None, model: str | None, epochs: int | None, as_json: bool) -> None:
        """Check a file or the stored dataset; exit 1 when it can't train."""
        _run(dataset_commands.validate(file, model, epochs, as_json))

    @dataset.command()
    @click.option(
        "-o",
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File to write (default stdout).",
    )
    @click.option(
        "--format",
        "kind",
        type=click.Choice(["sft", "dpo"]),
        default="sft",
        show_default=True,
        help="sft: the chat examples; dpo: the preference pairs.",
    )
    def export(output: Path | None, kind: str) -> None:
        """Write what trains as JSONL: the chat examples (sft) or the preference pairs (dpo)."""
        _run(dataset_commands.export(output, kind))

    @dataset.command()
    @as_json_option
    def stats(as_json: bool) -> None:
        """Examples in the set, waiting, vetoed; pairs; tokens; redactions."""
        _run(dataset_commands.stats(as_json))

    @dataset.command("list")
    @click.option(
        "--limit", type=click.IntRange(1), default=20, show_default=True, help="How many to list."
    )
    @click.option(
        "--source",
        type=click.Choice(["chat", "import"]),
        help="Only examples approved in chat, or only imported ones.",
    )
    @as_json_option
    def list_(limit: int, source: str | None, as_json: bool) -> None:
        """Examples, oldest first: id, where it came from, tokens, what was asked."""
        _run(dataset_commands.list_examples(limit, source, as_json))

    @dataset.command()
    @click.argument("example_id")
    @click.option("--json", "as_json", is_flag=True, help="Everything stored, not just the line.")
    def show(example_id: str, as_json: bool) -> None:
        """One example's messages."""
        _run(dataset_commands.show(example_id, as_json))

    @dataset.command()
    @click.argument("example_ids", nargs=-1, required=True)
    @click.option("--yes", is_flag=True, help="Don't ask (needed when not in a terminal).")
    def remove(example_ids: tuple[str, ...], yes: bool) -> None:
        """Remove examples from the dataset."""
        _run(dataset_commands.remove(example_ids, yes))

    @cli.group()
    def finetune() -> None:
        """Fine-tuning jobs, as the slash commands run them (you are an admin here)."""

    @finetune.command()
    @table_options("start")
    @click.option("--no-follow", is_flag=True, help="Start and return; don't follow the job.")
    def start(no_follow: bool, **options: Any) -> None:
        """Validate, upload and start a job, then follow it."""
        _run(finetune_commands.run("start", options, [], follow=not no_follow))

    for name in ("status", "cancel", "models", "rollback", "providers", "ledger"):
        summary = COMMANDS[name].summary
        finetune.command(name, help=f"{summary[0].upper()}{summary[1:]}.")(
            as_json_option(_simple(name))
        )

    @finetune.command()
    @click.argument("model")
    @click.option("--provider", help="Where the model is served (default: as used before).")
    def use(model: str, provider: str | None) -> None:
        """Switch the bot to a model."""
        _run(finetune_commands.run("use", {"provider": provider}, [model], follow=False))

    @finetune.command()
    @click.option("--provider", help="Where to retrain (default: MIGRATION_TARGET's).")
    @click.option("--model", help="Base model there (default: MIGRATION_TARGET's).")
    @click.option("--estimate", is_flag=True, help="Show the plan and its cost; start nothing.")
    @click.option("--no-follow", is_flag=True, help="Start and return; don't follow the job.")
    def migrate(provider: str | None, model: str | None, estimate: bool, no_follow: bool) -> None:
        """Retrain the dataset on MIGRATION_TARGET and switch before the model shuts down."""
        words = ["estimate"] if estimate else []
        options = {"provider": provider, "model": model}
        follow = not (no_follow or estimate)
        _run(finetune_commands.run("migrate", options, words, follow=follow))

    @finetune.command()
    @click.option("--every", help=COMMANDS["policy"].option("every").help.capitalize() + ".")
    @click.option("--schedule", help=COMMANDS["policy"].option("schedule").help.capitalize() + ".")
    @click.option("--budget", help=COMMANDS["policy"].option("budget").help.capitalize() + ".")
    @click.option("--off", is_flag=True, help="Turn the policy off.")
    @click.option("--reset", is_flag=True, help="Back to the settings' policy.")
    def policy(
        every: str | None, schedule: str | None, budget: str | None, off: bool, reset: bool
    ) -> None:
        """When the bot trains by itself, and the budget; with no option, show it."""
        options = {"every": every, "schedule": schedule, "budget": budget}
        words = ["off"] if off else ["reset"] if reset else []
        _run(finetune_commands.run("policy", options, words, follow=False))

    @cli.command("providers")
    @as_json_option
    def providers(as_json: bool) -> None:
        """Every provider: reachable or not, what it can do, its models and shutdown dates."""
        _run(finetune_commands.run("providers", {}, [], follow=False, as_json=as_json))

    @cli.group(invoke_without_command=True)
    @click.option("--json", "as_json", is_flag=True, help="The list as JSON.")
    @click.pass_context
    def teams(context: click.Context, as_json: bool) -> None:
        """Every team (TEAMS=many): its places, examples, model, job, spend, last activity."""
        if context.invoked_subcommand is None:
            _run(team_commands.list_teams(as_json))

    @teams.command("remove")
    @click.argument("team")
    @click.option("--yes", is_flag=True, help="Don't ask for confirmation.")
    def remove_team(team: str, yes: bool) -> None:
        """Remove a team with everything it kept (its places start afresh if heard again)."""
        _run(team_commands.remove_team(team, yes))

    return cli


def _simple(name: str) -> Callable[..., None]:
    def command(as_json: bool) -> None:
        _run(finetune_commands.run(name, {}, [], follow=False, as_json=as_json))

    command.__name__ = name
    return command
