"""The `/finetune` command language, shared by every front end."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from bot.commands.table import COMMANDS, MAX_BETA, MAX_EPOCHS, MAX_HOLDOUT, METHODS
from bot.providers.registry import Providers
from bot.training.finetune import StartOptions

# Derived from the table (bot/commands/table.py), where each command is declared once.
USAGE = {name: command.usage for name, command in COMMANDS.items()}
# Commands that spend money or change what everyone talks to: FINETUNE_ADMINS only.
ADMIN_COMMANDS = frozenset(name for name, command in COMMANDS.items() if command.admin)
START_KEYS = tuple(option.name for option in COMMANDS["start"].options)
MIGRATE_KEYS = tuple(option.name for option in COMMANDS["migrate"].options)
POLICY_KEYS = tuple(option.name for option in COMMANDS["policy"].options)
TAKES_WORDS = frozenset(
    name for name, command in COMMANDS.items() if command.words or command.options
)
EXPORT_KINDS = ("sft", "dpo")
# OpenAI accepts up to 64 characters in a suffix; letters, digits, '-' and '_' are safe.
COMPARE = re.compile(
    r"^\s*compare\b(?P<options>(?:\s+(?:model|provider)=\S+)*)(?P<prompt>.*)$", re.I | re.S
)
SUFFIX = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CommandError(ValueError):
    """A command that can't run as typed; the message says why in one line."""


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    options: dict[str, str] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)


def parse_command(text: str) -> ParsedCommand:
    """`start model=gpt-4.1-mini epochs=3` -> ParsedCommand("start", {...}). Empty means status."""
    compare = COMPARE.match(text or "")
    if compare:
        # The prompt is free text: apostrophes and quotes in it are not shell quoting.
        options = {}
        for word in compare["options"].split():
            key, _, value = word.partition("=")
            if key.lower() in options:
                raise CommandError(f"`{key.lower()}` is given twice.")
            options[key.lower()] = value
        return ParsedCommand("compare", options, [compare["prompt"].strip()])
    try:
        words = shlex.split(text or "")
    except ValueError:
        raise CommandError("A quote in the command is not closed.") from None
    if not words:
        return ParsedCommand("status")
    name, *rest = words
    name = name.lower()
    if name not in USAGE:
        raise CommandError(f"I don't know the command `{name}`.")
    options: dict[str, str] = {}
    arguments: list[str] = []
    for word in rest:
        key, sep, value = word.partition("=")
        if sep:
            if not key:
                raise CommandError(f"`{word}` needs a name before the `=`.")
            if key.lower() in options:
                raise CommandError(f"`{key.lower()}` is given twice.")
            options[key.lower()] = value
        else:
            arguments.append(word)
    if name not in TAKES_WORDS and (options or arguments):
        raise CommandError(f"`{name}` takes no options.")
    return ParsedCommand(name, options, arguments)


def usage_lines(command: str = "/finetune", *, in_chat: bool = True) -> list[str]:
    """The help; `in_chat` False (the terminal): without what is about a workspace or server."""
    return [
        f"`{command} {name}`: {text}"
        for name, text in USAGE.items()
        if in_chat or not COMMANDS[name].chat_only
    ]


def parse_start_options(
    command: ParsedCommand, default_model: str, providers: Providers
) -> StartOptions:
    """Check `/finetune start` options before anything is spent."""
    if command.arguments:
        raise CommandError(f"`{command.arguments[0]}` is not an option; write `name=value`.")
    unknown = sorted(set(command.options) - set(START_KEYS))
    if unknown:
        raise CommandError(f"`{unknown[0]}` is not an option of start ({', '.join(START_KEYS)}).")
    provider = command.options.get("provider") or None
    model = command.options.get("model", default_model)
    # A provider that can't train is the configuration's answer, not a syntax error: it
    # propagates as ProviderError and is said without the usage.
    provider = providers.training_provider(provider)
    table = providers.training_table(provider, model)
    if table.lookup(model) is None:
        where = providers.label(provider)
        names = ", ".join(table.names()) or "none listed (MODEL_TABLE_FILE adds them)"
        raise CommandError(f"`{model}` is not a model I can fine-tune on {where}: {names}.")
    method = command.options.get("method", "supervised").lower()
    if method not in METHODS:
        raise CommandError(f"method must be `supervised` or `dpo`, not `{method}`.")
    if "beta" in command.options and method != "dpo":
        raise CommandError("`beta` goes with `method=dpo` (preference training).")
    return StartOptions(
        model=model,
        provider=provider,
        epochs=_epochs(command.options.get("epochs")),
        suffix=_suffix(command.options.get("suffix")),
        holdout=_holdout(command.options.get("holdout")),
        method=method,
        beta=_beta(command.options.get("beta")),
    )


def parse_use(command: ParsedCommand) -> tuple[str, str | None]:
    """`use <model> [provider=<name>]`."""
    unknown = sorted(set(command.options) - {"provider"})
    if len(command.arguments) != 1 or unknown:
        raise CommandError("`use` needs exactly one model id, and optionally `provider=<name>`.")
    return command.arguments[0], command.options.get("provider") or None


def parse_migrate(command: ParsedCommand) -> tuple[bool, str | None, str | None]:
    """`migrate [estimate] [provider=<name>] [model=<base>]`: (only estimate?, provider, model)."""
    unknown = sorted(set(command.options) - set(MIGRATE_KEYS))
    if unknown:
        raise CommandError(f"`{unknown[0]}` is not an option of migrate (provider, model).")
    words = [word.lower() for word in command.arguments]
    if words not in ([], ["estimate"]):
        raise CommandError("`migrate` takes one word at most: `estimate`, to see the plan only.")
    return bool(words), command.options.get("provider"), command.options.get("model")


def parse_export_kind(command: ParsedCommand) -> str:
    """`export` or `export dpo`: which training file."""
    if command.options or len(command.arguments) > 1:
        raise CommandError("`export` takes at most one word: `dpo` for the preference pairs.")
    kind = command.arguments[0].lower() if command.arguments else "sft"
    if kind not in EXPORT_KINDS:
        raise CommandError(f"`{kind}` is not a kind of export; write `export` or `export dpo`.")
    return kind


def _epochs(value: str | None) -> int | None:
    if value is None or value == "auto":
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_EPOCHS:
        raise CommandError(f"epochs must be a whole number from 1 to {MAX_EPOCHS}, not `{value}`.")
    return int(value)


def _suffix(value: str | None) -> str | None:
    if value is None:
        return None
    if not SUFFIX.match(value):
        raise CommandError(
            "suffix must be 1 to 64 letters, digits, `-` or `_` (OpenAI puts it in the model name)."
        )
    return value


def _beta(value: str | None) -> float | None:
    if value is None or value == "auto":
        return None
    try:
        beta = float(value)
    except ValueError:
        beta = -1.0
    if not 0 < beta <= MAX_BETA:
        raise CommandError(f"beta must be a number above 0 and up to {MAX_BETA:g}, not `{value}`.")
    return beta


def _holdout(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        fraction = float(value)
    except ValueError:
        fraction = -1.0
    if not 0 <= fraction <= MAX_HOLDOUT:
        raise CommandError(f"holdout must be a fraction from 0 to {MAX_HOLDOUT:g}, not `{value}`.")
    return fraction
