"""Corrections on fakeredis: what a reply should have said trains in its place, makes a
preference pair over it, replaces an earlier correction, and is refused when blank, too long
or written by someone who opted out."""

from __future__ import annotations

import pytest

from bot.conversation.curation import CorrectionRefused, Curation, Outcome
from tests.bot.core.conftest import MODEL, trained


async def test_a_correction_trains_in_place_of_the_reply_and_makes_a_preference_pair(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "when do we deploy?", "Whenever.")

    result = await curation.correct(turn.key, "UBOB", "Tuesdays at 10, after the standup.")

    assert (result.outcome, result.votes) == (Outcome.ADDED, 1)
    assert await trained(dataset) == [("when do we deploy?", "Tuesdays at 10, after the standup.")]
    [pair] = [line async for line in dataset.preference_lines()]
    assert pair["preferred_output"][0]["content"] == "Tuesdays at 10, after the standup."
    assert pair["non_preferred_output"][0]["content"] == "Whenever."
    assert await curation.correction_draft(turn.key) == "Tuesdays at 10, after the standup."


async def test_a_second_correction_of_a_reply_replaces_the_first(curation, stores, dataset, chat):
    turn = await chat.ask("UALICE", "when do we deploy?", "Whenever.")
    await curation.correct(turn.key, "UBOB", "Tuesdays.")

    await curation.correct(turn.key, "UCAROL", "Tuesdays at 10.")

    assert await trained(dataset) == [("when do we deploy?", "Tuesdays at 10.")]
    assert await stores.pairs.count() == 1
    assert await curation.correction_draft(turn.key) == "Tuesdays at 10."


async def test_a_blank_correction_is_refused_and_saves_nothing(curation, dataset, chat):
    turn = await chat.ask("UALICE", "when do we deploy?", "Whenever.")

    with pytest.raises(CorrectionRefused, match="blank"):
        await curation.correct(turn.key, "UBOB", "   \n ")

    assert await trained(dataset) == []
    assert (await dataset.counts()).pairs == 0


async def test_a_correction_longer_than_the_model_takes_is_refused_with_the_numbers(
    stores, dataset, chat
):
    curation = Curation(stores, token_limit=lambda model: 40 if model == MODEL else None)
    turn = await chat.ask("UALICE", "when do we deploy?", "Whenever.")

    with pytest.raises(CorrectionRefused, match="takes up to 40"):
        await curation.correct(turn.key, "UBOB", "Tuesdays, " * 40)

    assert await trained(dataset) == []


async def test_a_correction_by_someone_who_opted_out_is_refused(curation, stores, dataset, chat):
    turn = await chat.ask("UALICE", "when do we deploy?", "Whenever.")
    await stores.provenance.opt_out("UBOB")

    result = await curation.correct(turn.key, "UBOB", "Tuesdays.")

    assert result.outcome is Outcome.VOTER_OPTED_OUT
    assert (await dataset.counts()).pairs == 0
