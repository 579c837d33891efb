"""Forgetting on fakeredis: a deleted message takes every example, pair and turn holding its
text; `forget-me` takes a person's conversations, corrections and votes, keeps their vetoes
without their name, and stops recording them until `include-me`."""

from __future__ import annotations

import pytest

from bot.conversation.curation import Outcome
from bot.conversation.forgetting import Forgetting, Forgotten
from storage.schemas import MessageKey
from storage.vetoes import FORGOTTEN
from tests.bot.core.conftest import (
    Conversation,
    asked_key,
    stored_text,
    traces_of,
    trained,
)


@pytest.fixture
def forgetting(stores):
    return Forgetting(stores)


def a_thread(stores) -> Conversation:
    return Conversation(stores.turns)


# A deleted message --------------------------------------------------------------------------


async def test_deleting_a_bot_reply_removes_its_example_and_its_turn(
    curation, forgetting, stores, dataset
):
    turn = await a_thread(stores).ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    forgotten = await forgetting.message_deleted(turn.key)

    assert (forgotten.examples, forgotten.turns) == (1, 1)
    assert await stores.turns.get(turn.key) is None
    # A vote on it now finds nothing to turn into an example.
    await curation.react(turn.key, "UCAROL", "vote", True, "11.0")
    assert await trained(dataset) == []


async def test_deleting_a_question_removes_every_later_turn_and_example_that_repeats_it(
    curation, forgetting, stores, dataset, redis
):
    thread = a_thread(stores)
    first = await thread.ask("UALICE", "my card is secret", "Noted.")
    second = await thread.ask("UALICE", "anything else?", "Nothing else.")
    other = await a_thread(stores).ask("UCAROL", "unrelated", "Sure.")
    for turn in (first, second, other):
        await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    forgotten = await forgetting.message_deleted(asked_key(first))

    assert (forgotten.examples, forgotten.turns) == (2, 2)
    assert await trained(dataset) == [("unrelated", "Sure.")]
    assert await stores.turns.get(second.key) is None
    assert "my card is secret" not in await stored_text(redis)


async def test_deleting_a_later_part_of_a_long_reply_removes_the_whole_reply(
    curation, forgetting, stores, dataset
):
    turn = await a_thread(stores).ask("UALICE", "tell me everything", "A long answer.", parts=3)
    await curation.react(turn.key, "UBOB", "vote", True, "10.0")

    forgotten = await forgetting.message_deleted(turn.part_keys[-1])

    assert (forgotten.examples, forgotten.turns) == (1, 1)
    assert await trained(dataset) == []


async def test_deleting_a_corrected_reply_takes_the_correction_and_its_preference_pair(
    curation, forgetting, stores, dataset
):
    turn = await a_thread(stores).ask("UALICE", "when do we deploy?", "Whenever.")
    await curation.correct(turn.key, "UBOB", "Tuesdays at 10.")

    forgotten = await forgetting.message_deleted(turn.key)

    assert (forgotten.examples, forgotten.pairs) == (1, 1)
    assert await trained(dataset) == []
    assert (await dataset.counts()).pairs == 0


async def test_deleting_a_message_nothing_was_kept_from_removes_nothing(
    forgetting, stores, dataset
):
    await a_thread(stores).ask("UALICE", "hi", "Ahoy!")

    forgotten = await forgetting.message_deleted(MessageKey("slack", "C1", "1.000001"))

    assert forgotten == Forgotten()
    assert not forgotten.anything


# Forget me ----------------------------------------------------------------------------------


async def test_forget_me_removes_the_persons_conversations_and_stops_recording_them(
    curation, forgetting, stores, dataset, redis
):
    alice = await a_thread(stores).ask("UALICE", "alice's secret plan", "Noted.")
    carol = await a_thread(stores).ask("UCAROL", "carol's question", "Answered.")
    await curation.react(alice.key, "UBOB", "vote", True, "10.0")
    await curation.react(carol.key, "UBOB", "vote", True, "10.0")

    forgotten = await forgetting.forget_person("UALICE")

    assert (forgotten.examples, forgotten.turns) == (1, 1)
    assert await trained(dataset) == [("carol's question", "Answered.")]
    assert "alice's secret plan" not in await stored_text(redis)
    later = await a_thread(stores).ask("UALICE", "a new question", "A new answer.")
    refused = await curation.react(later.key, "UBOB", "vote", True, "11.0")
    assert refused.outcome is Outcome.OPTED_OUT


async def test_forget_me_takes_back_votes_on_others_replies_and_keeps_vetoes_nameless(
    curation, forgetting, stores, dataset, redis
):
    only_bob = await a_thread(stores).ask("UALICE", "first question", "First.")
    shared = await a_thread(stores).ask("UALICE", "second question", "Second.")
    vetoed = await a_thread(stores).ask("UALICE", "third question", "Third.")
    await curation.react(only_bob.key, "UBOB", "vote", True, "10.0")
    await curation.react(shared.key, "UBOB", "vote", True, "10.0")
    await curation.react(shared.key, "UCAROL", "vote", True, "10.0")
    await curation.react(vetoed.key, "UCAROL", "vote", True, "10.0")
    await curation.veto_turn(vetoed.key, "UBOB", "10.5", reason="Bob thinks it is rude")

    forgotten = await forgetting.forget_person("UBOB")

    assert forgotten.judged == 3
    assert (forgotten.examples, forgotten.turns) == (0, 0)  # none held his messages
    assert await trained(dataset) == [("second question", "Second.")]
    [veto] = await stores.vetoes.of(next(iter(await stores.vetoes.vetoed_ids())))
    assert (veto.user, veto.reason) == (FORGOTTEN, None)
    assert await traces_of(redis, "UBOB") == []


async def test_forget_me_takes_the_corrections_a_person_wrote_on_anothers_reply(
    curation, forgetting, stores, dataset, redis
):
    turn = await a_thread(stores).ask("UALICE", "when do we deploy?", "Whenever.")
    await curation.correct(turn.key, "UBOB", "Bob says: Tuesdays at 10.")

    forgotten = await forgetting.forget_person("UBOB")

    assert (forgotten.examples, forgotten.pairs) == (1, 1)
    assert await trained(dataset) == []
    assert "Tuesdays at 10" not in await stored_text(redis)
    # Alice's conversation itself stays: it was hers, not his.
    assert await stores.turns.get(turn.key) is not None


async def test_forget_me_takes_the_corrections_others_wrote_on_the_persons_conversation(
    curation, forgetting, stores, dataset, redis
):
    turn = await a_thread(stores).ask("UALICE", "alice asks about payroll", "Whenever.")
    await curation.correct(turn.key, "UBOB", "Payroll runs on the 25th.")

    forgotten = await forgetting.forget_person("UALICE")

    assert (forgotten.examples, forgotten.pairs, forgotten.turns) == (1, 1, 1)
    assert (await dataset.counts()).pairs == 0
    assert "alice asks about payroll" not in await stored_text(redis)


async def test_forget_me_leaves_no_trace_of_a_person_who_judged_their_own_conversation(
    curation, forgetting, stores, redis
):
    # Their votes on others' replies lose their name (the test above); so must these.
    turn = await a_thread(stores).ask("UALICE", "hi", "Ahoy!")
    await curation.react(turn.key, "UALICE", "vote", True, "10.0")
    await curation.react(turn.key, "UALICE", "veto", True, "11.0")

    await forgetting.forget_person("UALICE")

    assert await traces_of(redis, "UALICE") == []


async def test_include_me_lets_a_persons_conversations_become_examples_again(
    curation, forgetting, stores, dataset
):
    await forgetting.forget_person("UALICE")

    assert await forgetting.include_person("UALICE") is True
    assert await forgetting.include_person("UALICE") is False

    turn = await a_thread(stores).ask("UALICE", "hi again", "Ahoy again!")
    assert (await curation.react(turn.key, "UALICE", "vote", True, "10.0")).outcome is (
        Outcome.ADDED
    )
    assert await trained(dataset) == [("hi again", "Ahoy again!")]


# The operator removes examples ----------------------------------------------------------------


class RecordedCopies:
    """A copy holder (a job snapshot, comparisons) that records what it was asked to drop."""

    def __init__(self) -> None:
        self.withdrawn = []

    async def withdraw(self, removed) -> int:
        self.withdrawn.append(removed)
        return len(removed.lines)


async def test_an_example_the_operator_removes_goes_with_its_vetoes_and_every_copy(
    curation, stores, dataset
):
    copies = RecordedCopies()
    forgetting = Forgetting(stores, copies=[copies])
    kept = await a_thread(stores).ask("UALICE", "keep this", "Kept.")
    dropped = await a_thread(stores).ask("UALICE", "drop this", "Dropped.")
    await curation.react(kept.key, "UBOB", "vote", True, "10.0")
    await curation.react(dropped.key, "UBOB", "vote", True, "10.0")
    await curation.react(dropped.key, "UCAROL", "veto", True, "11.0")
    [dropped_id] = await stores.examples.examples_of_replies([dropped.ref])

    assert await forgetting.remove_examples([dropped_id, "no-such-example"]) == [dropped_id]

    assert await trained(dataset) == [("keep this", "Kept.")]
    assert await stores.vetoes.vetoed_ids() == set()
    [removed] = copies.withdrawn
    assert len(removed.lines) == 1 and len(removed.prompts) == 1
