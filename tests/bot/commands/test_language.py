"""`/finetune compare` takes free text: quotes and apostrophes are the prompt's own."""

from __future__ import annotations

import pytest

from bot.commands.language import CommandError, ParsedCommand, parse_command


def test_compare_keeps_the_prompt_as_typed_with_an_optional_model():
    assert parse_command('compare what\'s the "tide" today?') == ParsedCommand(
        "compare", {}, ['what\'s the "tide" today?']
    )
    assert parse_command("Compare model=ft:gpt-4.1-mini:acme::x  hi there") == ParsedCommand(
        "compare", {"model": "ft:gpt-4.1-mini:acme::x"}, ["hi there"]
    )


def test_other_commands_still_use_shell_words():
    assert parse_command("start epochs=3") == ParsedCommand("start", {"epochs": "3"}, [])
    with pytest.raises(CommandError, match="quote"):
        parse_command("use 'unclosed")
    # A word that only begins like compare is not compare.
    with pytest.raises(CommandError, match="don't know"):
        parse_command("comparex hi")
