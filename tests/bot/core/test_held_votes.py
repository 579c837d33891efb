"""Votes made while the reply still streams, on fakeredis: the reply has no turn yet, so the
reaction is held and applied once, when the turn is recorded, as the person left it."""

from __future__ import annotations

from bot.conversation.curation import Outcome
from tests.bot.core.conftest import trained


async def test_a_vote_made_while_the_reply_streams_counts_once_the_turn_is_recorded(
    curation, dataset, chat
):
    reply = chat.next_reply()
    held = await curation.react(reply, "UBOB", "vote", True, "10.0")
    assert held.outcome is Outcome.HELD
    assert await trained(dataset) == []

    turn = await chat.ask("UALICE", "tell it slowly", "Arr, slowly.")
    assert turn.key == reply
    await curation.apply_pending(reply)

    assert await trained(dataset) == [("tell it slowly", "Arr, slowly.")]


async def test_a_vote_added_and_taken_back_while_the_reply_streams_is_not_applied(
    curation, dataset, chat
):
    reply = chat.next_reply()
    await curation.react(reply, "UBOB", "vote", True, "10.0")
    await curation.react(reply, "UBOB", "vote", False, "10.5")

    await chat.ask("UALICE", "tell it slowly", "Arr, slowly.")
    await curation.apply_pending(reply)

    assert await trained(dataset) == []


async def test_a_held_vote_by_someone_who_opts_out_before_the_turn_is_recorded_is_dropped(
    curation, stores, dataset, chat
):
    reply = chat.next_reply()
    await curation.react(reply, "UBOB", "vote", True, "10.0")
    await stores.provenance.opt_out("UBOB")

    await chat.ask("UALICE", "tell it slowly", "Arr, slowly.")
    await curation.apply_pending(reply)

    assert await trained(dataset) == []


async def test_held_votes_are_applied_once_however_often_the_turn_is_reported(
    curation, stores, chat
):
    reply = chat.next_reply()
    await curation.react(reply, "UBOB", "vote", True, "10.0")
    await chat.ask("UALICE", "tell it slowly", "Arr, slowly.")

    await curation.apply_pending(reply)
    await curation.apply_pending(reply)

    [example_id] = await stores.examples.all_ids()
    assert await stores.examples.voter_count(example_id) == 1
