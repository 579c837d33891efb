"""Each front end offers the `/finetune` commands as bot/commands/table.py declares them: the
same commands, the same options, the same limits and choices. A front end that drifts from the
table (an option added in one place, a range typed by hand) fails here."""

from __future__ import annotations

import click

from bot.commands.language import ADMIN_COMMANDS, USAGE
from bot.commands.table import COMMANDS
from handlers.cli import build_cli
from handlers.discord.commands import FinetuneCommands
from handlers.slack.home_view import build_start_modal
from handlers.slack.home_view import start_options as home_start_options
from tests.handlers.slack.test_views import report


def discord_commands() -> dict:
    group = FinetuneCommands(client=None)
    return {command.name: command for command in group.commands}


def cli_finetune() -> click.Group:
    return build_cli(serve=lambda: None).commands["finetune"]


def test_slack_help_and_admin_rights_come_from_the_table():
    assert {name: command.usage for name, command in COMMANDS.items()} == USAGE
    assert {name for name, command in COMMANDS.items() if command.admin} == ADMIN_COMMANDS


def test_discord_offers_every_command_with_the_tables_options_limits_and_choices():
    offered = discord_commands()
    assert set(offered) == set(COMMANDS)
    for name, command in COMMANDS.items():
        # Discord refuses a description over 100 characters when the commands are synced.
        assert offered[name].description == command.summary and len(command.summary) <= 100
        parameters = {p.name: p for p in offered[name].parameters}
        options = {option.name: option for option in command.options}
        assert set(options) <= set(parameters), name
        for option in options.values():
            parameter = parameters[option.name]
            assert (parameter.min_value, parameter.max_value) == (option.low, option.high), (
                f"{name} {option.name}"
            )
            assert sorted(choice.value for choice in parameter.choices) == sorted(option.choices)


def test_the_command_line_takes_starts_options_with_the_tables_limits():
    params = {param.name: param for param in cli_finetune().commands["start"].params}
    for option in COMMANDS["start"].options:
        kind = params[option.name].type
        if option.low is not None:
            assert (kind.min, kind.max) == (option.low, option.high), option.name
        if option.choices:
            assert tuple(kind.choices) == option.choices, option.name
    # A file is validated with the same epochs limit as the dataset.
    dataset = build_cli(serve=lambda: None).commands["dataset"].commands["validate"]
    [epochs] = [param for param in dataset.params if param.name == "epochs"]
    assert (epochs.type.min, epochs.type.max) == (1, COMMANDS["start"].option("epochs").high)


def test_the_home_start_form_asks_for_every_start_option_and_reads_them_back():
    names = {option.name for option in COMMANDS["start"].options}
    form = build_start_modal(report(), ["m1"], "m1", providers=(["a", "b"], "a"))
    assert names <= {block.get("block_id") for block in form["blocks"]}
    values = {name: {"value": {"value": "1"}} for name in names}
    assert set(home_start_options(values)[0]) == names
