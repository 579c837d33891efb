"""The command service on fakeredis, wired by `build_services` as every front end gets it: the
commands that call no model (status, help, export, forget-me, include-me) and who may run
what."""

from __future__ import annotations

import json

import pytest

from bot.commands.results import Caller, DatasetFile, Help, Sentence, StatusSummary
from bot.commands.service import (
    ADMINS_ONLY,
    EMPTY_DATASET,
    EXPORT_ADMINS_ONLY,
    NO_PAIRS,
)
from tests.bot.core.conftest import MODEL, Conversation, build_core

ALICE = Caller(platform="slack", user="UALICE", is_admin=False, channel="C1")
ADMIN = Caller(platform="slack", user="UADMIN", is_admin=True, channel="C1")


@pytest.fixture
def core(redis):
    return build_core(redis)


async def approved(core, question: str, reply: str, *voters: str) -> None:
    turn = await Conversation(core.turns).ask("UALICE", question, reply)
    for voter in voters:
        await core.curation.react(turn.key, voter, "vote", True, "10.0")


# Status and help ----------------------------------------------------------------------------


async def test_the_status_of_a_new_bot_shows_an_empty_dataset_and_the_configured_model(core):
    status = await core.commands.run_text("status", ALICE)

    assert isinstance(status, StatusSummary)
    assert (status.examples, status.waiting, status.vetoed, status.pairs) == (0, 0, 0, 0)
    assert status.model == MODEL
    assert not status.is_fine_tuned
    assert status.active_job is None
    assert status.finished_jobs == []


async def test_an_empty_command_is_the_status(core):
    assert isinstance(await core.commands.run_text("", ALICE), StatusSummary)


async def test_the_status_counts_what_trains_what_waits_for_the_quorum_and_what_is_vetoed(redis):
    core = build_core(redis, min_votes=2)
    await approved(core, "trains", "Yes.", "UBOB", "UCAROL")
    await approved(core, "waits", "Maybe.", "UBOB")
    vetoed = await Conversation(core.turns).ask("UALICE", "vetoed", "No.")
    await core.curation.react(vetoed.key, "UBOB", "veto", True, "10.0")

    status = await core.commands.run_text("status", ALICE)

    assert (status.examples, status.waiting, status.vetoed, status.min_votes) == (1, 1, 1, 2)
    assert status.approx_tokens > 0


async def test_help_lists_the_commands(core):
    assert await core.commands.run_text("help", ALICE) == Help()


async def test_an_unknown_command_gets_the_usage_and_names_what_was_typed(core):
    answer = await core.commands.run_text("frobnicate now", ALICE)

    assert isinstance(answer, Help)
    assert "frobnicate" in answer.problem


# Who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", ["start", "cancel", "use ft:gpt-4.1-mini:acme::x", "rollback", "migrate"]
)
async def test_a_non_admin_is_refused_what_spends_money_or_switches_the_model(core, command):
    answer = await core.commands.run_text(command, ALICE)

    assert answer == Sentence(ADMINS_ONLY, refused=True)
    assert await core.jobs.lock_holder() is None
    assert await core.models.active() is None
    assert await core.models.history() == []


async def test_a_non_admin_cannot_export_the_dataset_by_default(core):
    await approved(core, "private question", "Private answer.", "UBOB")

    assert await core.commands.run_text("export", ALICE) == Sentence(
        EXPORT_ADMINS_ONLY, refused=True
    )
    assert await core.commands.run_text("export dpo", ALICE) == Sentence(
        EXPORT_ADMINS_ONLY, refused=True
    )


async def test_an_admin_gets_the_dataset_as_a_training_file(core, temp_dir):
    await approved(core, "where is the treasure?", "Under the palm.", "UBOB")

    answer = await core.commands.run_text("export", ADMIN)

    assert isinstance(answer, DatasetFile)
    try:
        assert answer.examples == 1
        assert answer.filename.startswith("dataset-core-")
        [line] = answer.file.read_bytes().decode().splitlines()
        assert json.loads(line)["messages"][-1] == {
            "role": "assistant",
            "content": "Under the palm.",
            "weight": 1,
        }
    finally:
        answer.file.discard()
    assert list(temp_dir.iterdir()) == []


async def test_with_export_access_for_everyone_anyone_may_export(redis, temp_dir):
    core = build_core(redis, export_access="everyone")
    await approved(core, "hi", "Ahoy!", "UBOB")

    answer = await core.commands.run_text("export", ALICE)

    assert isinstance(answer, DatasetFile)
    answer.file.discard()


async def test_exporting_an_empty_dataset_says_how_to_add_examples(core, temp_dir):
    assert await core.commands.run_text("export", ADMIN) == Sentence(EMPTY_DATASET)
    assert await core.commands.run_text("export dpo", ADMIN) == Sentence(NO_PAIRS)
    assert list(temp_dir.iterdir()) == [], "the empty file is not left behind"


async def test_an_admin_rollback_with_no_earlier_model_says_so_and_changes_nothing(core):
    answer = await core.commands.run_text("rollback", ADMIN)

    assert answer == Sentence(
        f"There is no earlier model to go back to; I am using `{MODEL}`.", refused=True
    )
    assert await core.models.active() is None


# Forget me, include me ----------------------------------------------------------------------


async def test_forget_me_says_what_it_removed_and_that_recording_stopped(core):
    await approved(core, "alice's question", "An answer.", "UBOB")

    answer = await core.commands.run_text("forget-me", ALICE)

    assert isinstance(answer, Sentence)
    assert answer.text.startswith(
        "Done: I removed 1 example, 0 preference pairs and 1 recorded turn"
    )
    assert "`/finetune include-me` undoes that part" in answer.text
    assert (await core.commands.run_text("status", ALICE)).examples == 0


async def test_forget_me_says_when_it_took_back_the_persons_votes(core):
    await approved(core, "alice's question", "An answer.", "UBOB")

    answer = await core.commands.run_text("forget-me", Caller("slack", "UBOB", False, "C1"))

    assert "your votes and vetoes on 1 reply no longer name you" in answer.text


async def test_include_me_says_whether_anything_changed(core):
    await core.commands.run_text("forget-me", ALICE)

    again = await core.commands.run_text("include-me", ALICE)
    already = await core.commands.run_text("include-me", ALICE)

    assert again == Sentence(
        "Your conversations can become examples again; what was removed stays removed."
    )
    assert already == Sentence("Your conversations already can become examples; nothing changed.")


# The comparison buttons, the same on every front end ------------------------------------------


async def test_only_admins_promote_from_the_button_whatever_the_front_end(core):
    assert await core.commands.promote("cmp-anything", ALICE) == ADMINS_ONLY
    discord_member = Caller(platform="discord", user="42", is_admin=False, channel="7")
    assert await core.commands.promote("cmp-anything", discord_member) == ADMINS_ONLY


async def test_a_promote_or_pick_on_a_comparison_no_longer_stored_says_so(core):
    assert await core.commands.promote("cmp-gone", ADMIN) == "That comparison is no longer stored."
    assert "no longer" in await core.commands.pick("cmp-gone-1", ALICE, "a")
