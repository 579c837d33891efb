"""The `/finetune` command language, shared by every front end."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

USAGE = {
    "status": "show the dataset, the model in use and help",
    "export": "send you the dataset as an OpenAI chat fine-tuning .jsonl file",
    "help": "list these commands",
}


class CommandError(ValueError):
    """A command that can't run as typed; the message says why in one line."""


@dataclass(frozen=True)
class ParsedCommand:
    name: str
    options: dict[str, str] = field(default_factory=dict)
    arguments: list[str] = field(default_factory=list)


def parse_command(text: str) -> ParsedCommand:
    """`start model=gpt-4.1-mini epochs=3` -> ParsedCommand("start", {...}). Empty means status."""
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
            options[key.lower()] = value
        else:
            arguments.append(word)
    return ParsedCommand(name, options, arguments)


def usage_lines(command: str = "/finetune") -> list[str]:
    return [f"`{command} {name}`: {text}" for name, text in USAGE.items()]
