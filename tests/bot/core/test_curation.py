"""Curation on fakeredis: votes make examples, vetoes keep them out, the quorum decides what
trains, only curated channels count, and people who opted out are refused."""

from __future__ import annotations

from bot.conversation.curation import OPT_OUT_REFUSALS, Curation, Outcome
from bot.dataset.export import Dataset
from tests.bot.core.conftest import SYSTEM, Conversation, asked_key, trained


def quorum(stores, min_votes: int) -> Dataset:
    return Dataset(stores.examples, stores.vetoes, stores.pairs, min_votes=min_votes)


# Votes --------------------------------------------------------------------------------------


async def test_a_vote_makes_the_exact_conversation_the_model_saw_a_training_line(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "where is the treasure?", "Under the palm, matey.")

    result = await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    assert (result.outcome, result.votes) == (Outcome.ADDED, 1)
    [line] = [line async for line in dataset.training_lines()]
    assert line["messages"] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "where is the treasure?"},
        {"role": "assistant", "content": "Under the palm, matey.", "weight": 1},
    ]


async def test_taking_the_only_vote_back_takes_the_example_out_of_the_dataset(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    result = await curation.react(turn.key, "UBOB", "vote", False, "11.0")

    assert (result.outcome, result.votes) == (Outcome.REMOVED, 0)
    assert await trained(dataset) == []
    assert (await dataset.counts()).in_set == 0


async def test_a_vote_delivered_after_its_own_removal_does_not_bring_it_back(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    # Slack delivered the removal (at 11.0) before the add it undoes (at 10.0).
    await curation.react(turn.key, "UBOB", "vote", False, "11.0")

    result = await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    assert result.outcome is Outcome.UNCHANGED
    assert await trained(dataset) == []


async def test_each_person_counts_once_however_often_their_vote_is_delivered(
    curation, stores, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")
    await curation.react(turn.key, "UCAROL", "vote", True, "10.5")

    again = await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    assert again.votes == 2
    assert await stores.examples.voter_count(again.example_id) == 2


async def test_a_redelivered_vote_is_reported_as_already_saved(curation, chat):
    # The terminal answers UNCHANGED with "Already saved."; ADDED says "Saved: ... now".
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    again = await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    assert again.outcome is Outcome.UNCHANGED


async def test_with_a_quorum_of_two_one_vote_waits_and_a_second_person_makes_it_train(
    curation, stores, chat
):
    dataset = quorum(stores, 2)
    turn = await chat.ask("UALICE", "hi", "Ahoy!")

    await curation.react(turn.key, "UBOB", "vote", True, "10.0")
    counts = await dataset.counts()
    assert (counts.in_set, counts.waiting) == (0, 1)
    assert await trained(dataset) == []

    await curation.react(turn.key, "UCAROL", "vote", True, "11.0")
    counts = await dataset.counts()
    assert (counts.in_set, counts.waiting) == (1, 0)
    assert await trained(dataset) == [("hi", "Ahoy!")]


async def test_one_person_approving_two_identical_replies_is_one_voice_for_the_quorum(
    curation, stores
):
    dataset = quorum(stores, 2)
    first = await Conversation(stores.turns).ask("UALICE", "hi", "Ahoy!")
    second = await Conversation(stores.turns).ask("UALICE", "hi", "Ahoy!")

    await curation.react(first.key, "UBOB", "vote", True, "10.0")
    result = await curation.react(second.key, "UBOB", "vote", True, "10.1")

    assert result.votes == 1
    assert await trained(dataset) == []
    assert (await dataset.counts()).waiting == 1


async def test_an_earlier_reply_in_the_thread_trains_only_if_it_was_approved_itself(
    curation, dataset, chat
):
    first = await chat.ask("UALICE", "one?", "First answer.")
    second = await chat.ask("UALICE", "two?", "Second answer.")
    await curation.react(second.key, "UBOB", "vote", True, "10.0")

    [line] = [line async for line in dataset.training_lines()]
    assert [m.get("weight") for m in line["messages"] if m["role"] == "assistant"] == [0, 1]

    await curation.react(first.key, "UBOB", "vote", True, "11.0")
    lines = [line async for line in dataset.training_lines()]
    longest = max(lines, key=lambda line: len(line["messages"]))
    assert [m.get("weight") for m in longest["messages"] if m["role"] == "assistant"] == [1, 1]


async def test_a_vote_on_a_later_part_of_a_long_reply_counts_for_the_whole_reply(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "tell me everything", "A very long answer.", parts=2)
    [second_part] = turn.part_keys

    added = await curation.react(second_part, "UBOB", "vote", True, "10.0")
    removed = await curation.react(turn.key, "UBOB", "vote", False, "11.0")

    assert added.outcome is Outcome.ADDED
    assert removed.outcome is Outcome.REMOVED
    assert await trained(dataset) == []


async def test_a_reaction_on_a_message_that_is_no_bot_reply_changes_nothing(stores, dataset, chat):
    curation = Curation(stores)  # no streaming answers to wait for
    turn = await chat.ask("UALICE", "hi", "Ahoy!")

    result = await curation.react(asked_key(turn), "UBOB", "vote", True, "10.0")

    assert result.outcome is Outcome.NOT_A_TURN
    assert await trained(dataset) == []


# Curated channels ---------------------------------------------------------------------------


async def test_outside_the_curated_channels_a_vote_is_not_taken_but_can_still_be_taken_back(
    stores, dataset, chat
):
    everywhere = Curation(stores)
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await everywhere.react(turn.key, "UBOB", "vote", True, "10.0")
    # CURATE_CHANNELS was narrowed since that vote.
    elsewhere = Curation(stores, channels=frozenset({"C-CURATED"}))

    refused = await elsewhere.react(turn.key, "UCAROL", "vote", True, "11.0")
    taken_back = await elsewhere.react(turn.key, "UBOB", "vote", False, "12.0")

    assert refused.outcome is Outcome.NOT_CURATED
    assert taken_back.outcome is Outcome.REMOVED
    assert await trained(dataset) == []


# Vetoes -------------------------------------------------------------------------------------


async def test_a_veto_keeps_a_reply_out_whatever_its_votes_and_lifting_it_lets_it_back(
    curation, dataset, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")
    await curation.react(turn.key, "UCAROL", "vote", True, "10.1")

    vetoed = await curation.react(turn.key, "UDAVE", "veto", True, "11.0")
    assert vetoed.outcome is Outcome.VETOED
    assert await trained(dataset) == []
    assert (await dataset.counts()).vetoed == 1

    lifted = await curation.react(turn.key, "UDAVE", "veto", False, "12.0")
    assert lifted.outcome is Outcome.LIFTED
    assert await trained(dataset) == [("hi", "Ahoy!")]


async def test_a_reply_stays_out_until_every_veto_on_it_is_lifted(curation, dataset, chat):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")
    await curation.react(turn.key, "UCAROL", "veto", True, "11.0")
    await curation.react(turn.key, "UDAVE", "veto", True, "11.1")

    await curation.react(turn.key, "UCAROL", "veto", False, "12.0")

    assert await trained(dataset) == []


async def test_a_vetoed_earlier_reply_is_not_trained_as_history(curation, dataset, chat):
    first = await chat.ask("UALICE", "one?", "Bad first answer.")
    second = await chat.ask("UALICE", "two?", "Second answer.")
    await curation.react(first.key, "UBOB", "vote", True, "10.0")
    await curation.react(second.key, "UBOB", "vote", True, "10.1")

    await curation.react(first.key, "UCAROL", "veto", True, "11.0")

    [line] = [line async for line in dataset.training_lines()]
    assert [m.get("weight") for m in line["messages"] if m["role"] == "assistant"] == [0, 1]


async def test_the_feedback_buttons_keep_each_persons_latest_click(curation, dataset, chat):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")

    good = await curation.feedback(turn.key, "UBOB", "good", "10.0")
    assert (good.outcome, good.first_vote) == (Outcome.ADDED, True)
    assert await trained(dataset) == [("hi", "Ahoy!")]

    bad = await curation.feedback(turn.key, "UBOB", "bad", "11.0")
    assert bad.outcome is Outcome.VETOED
    assert await trained(dataset) == []
    assert (await dataset.counts()).vetoed == 1

    cleared = await curation.feedback(turn.key, "UBOB", "bad", "12.0")
    assert cleared.outcome is Outcome.LIFTED
    assert (await dataset.counts()).vetoed == 0

    stale = await curation.feedback(turn.key, "UBOB", "good", "11.5")
    assert stale.outcome is Outcome.UNCHANGED
    assert await trained(dataset) == []


# People who opted out -----------------------------------------------------------------------


async def test_a_conversation_with_someone_who_opted_out_cannot_become_an_example(
    curation, stores, dataset, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await stores.provenance.opt_out("UALICE")

    result = await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    assert result.outcome is Outcome.OPTED_OUT
    assert "asked not to be recorded" in OPT_OUT_REFUSALS[result.outcome]
    assert await trained(dataset) == []


async def test_a_person_who_opted_out_cannot_vote_but_their_veto_still_keeps_a_reply_out(
    curation, stores, dataset, chat
):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UCAROL", "vote", True, "9.0")
    await stores.provenance.opt_out("UBOB")

    vote = await curation.react(turn.key, "UBOB", "vote", True, "10.0")
    veto = await curation.react(turn.key, "UBOB", "veto", True, "10.1")

    assert vote.outcome is Outcome.VOTER_OPTED_OUT
    assert "include-me" in OPT_OUT_REFUSALS[vote.outcome]
    assert veto.outcome is Outcome.VETOED
    assert await trained(dataset) == []


async def test_a_thumbs_up_from_someone_who_opted_out_is_refused(curation, stores, dataset, chat):
    turn = await chat.ask("UALICE", "hi", "Ahoy!")
    await stores.provenance.opt_out("UBOB")

    result = await curation.feedback(turn.key, "UBOB", "good", "10.0")

    assert result.outcome is Outcome.VOTER_OPTED_OUT
    assert await trained(dataset) == []
