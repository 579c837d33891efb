"""People's picks on a comparison, on fakeredis: comparisons and their answered pairs are put in
the store directly (no model is called), then picked through `Comparer` as every front end
does. A pick replaces the person's earlier one, the side ahead makes a preference pair, and the
gate's sequential test promotes, rejects or says how many more picks it needs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.comparison.views import PICK_LABELS
from storage.comparisons import (
    OPEN,
    PROMOTED,
    REJECTED,
    UNDECIDED,
    Answer,
    ComparedPair,
    Comparison,
    ComparisonStore,
)
from storage.comparisons import Conversation as Asked
from storage.jobs import JobRecord
from tests.bot.core.conftest import KEYS, MODEL, SYSTEM, a_job, build_core

TUNED = "ft:gpt-4.1-mini-2025-04-14:acme::tuned"
JOB = "ftjob-gated"


class Thread:
    """Where a comparison is shown (its reporter) and the job's status message (the tally)."""

    def __init__(self) -> None:
        self.said: list[str] = []
        self.job_messages: list[str | None] = []

    # ComparisonReporter
    async def show_pair(self, comparison: Comparison, pair: ComparedPair, number: int) -> str:
        return f"message-{number}"

    async def announce(self, comparison: Comparison, text: str, *, promote: bool = False) -> None:
        self.said.append(text)

    async def withdraw_pair(self, comparison: Comparison, pair: ComparedPair) -> None:
        pass

    # JobReporter
    async def show_job(self, job: JobRecord) -> str | None:
        self.job_messages.append(job.comparison)
        return "status-message"

    async def post(self, channel: str, text: str) -> None:
        pass

    async def show_chart(self, job: JobRecord, png: bytes) -> None:
        pass

    async def close(self) -> None:
        pass


def build(redis, **settings):
    core = build_core(redis, **settings)
    thread = Thread()
    core.comparer.reporters.add("slack", thread)
    core.reporters.add("slack", thread)
    return core, thread


@pytest.fixture
def store(redis) -> ComparisonStore:
    return ComparisonStore(redis, KEYS)


async def a_comparison(
    store: ComparisonStore, *, conversations: int = 2, kind: str = "gate"
) -> tuple[Comparison, list[ComparedPair]]:
    """Both models have answered every conversation; the pairs are posted and open to picks.
    The new model is A on odd pairs and B on even ones, as the random order may have it."""
    comparison = Comparison(
        kind=kind,
        status=OPEN,
        current_model=MODEL,
        current_provider="openai",
        candidate_model=TUNED,
        candidate_provider="openai",
        current_prompt=SYSTEM,
        candidate_prompt=SYSTEM,
        asked_by="UALICE" if kind == "adhoc" else "",
        channel="C1",
        job_id=JOB if kind == "gate" else None,
    )
    pairs = [
        ComparedPair(
            id=f"{comparison.id}-{n}",
            comparison_id=comparison.id,
            conversation=Asked(messages=[{"role": "user", "content": f"question {n}"}]),
            candidate_is_a=n % 2 == 1,
            candidate=Answer(model=TUNED, text=f"tuned answer {n}"),
            current=Answer(model=MODEL, text=f"current answer {n}"),
            message_id=f"message-{n}",
        )
        for n in range(1, conversations + 1)
    ]
    for pair in pairs:
        await store.save_pair(pair)
    comparison.pair_ids = [pair.id for pair in pairs]
    await store.save(comparison)
    return comparison, pairs


async def gated_job(core) -> None:
    """The job whose model the gate compares (its message shows the tally)."""
    await core.jobs.save(a_job(JOB, "succeeded", fine_tuned_model=TUNED))


def new_model(pair: ComparedPair) -> str:
    """The label people see on the new model's answer."""
    return "a" if pair.candidate_is_a else "b"


def model_in_use(pair: ComparedPair) -> str:
    return "b" if pair.candidate_is_a else "a"


async def preference_lines(core) -> list[tuple[str, str]]:
    return [
        (line["preferred_output"][0]["content"], line["non_preferred_output"][0]["content"])
        async for line in core.dataset.preference_lines()
    ]


# Picks --------------------------------------------------------------------------------------


async def test_a_second_pick_by_the_same_person_replaces_the_first(redis, store):
    core, _ = build(redis)
    _, [pair, _] = await a_comparison(store)

    first = await core.comparer.pick(pair.id, "UALICE", new_model(pair))
    second = await core.comparer.pick(pair.id, "UALICE", model_in_use(pair))

    assert first.counted and second.counted
    label = PICK_LABELS[model_in_use(pair)]
    assert second.text == f"Your pick ({label}) is saved; pick again to change it."
    records = await core.comparer.records()
    assert (records[TUNED].wins, records[TUNED].losses) == (0, 1)
    assert (records[MODEL].wins, records[MODEL].losses) == (1, 0)
    assert await preference_lines(core) == [("current answer 1", "tuned answer 1")]


async def test_the_side_ahead_makes_the_preference_pair_and_a_tie_makes_none(redis, store):
    core, _ = build(redis)
    _, [pair, _] = await a_comparison(store)

    await core.comparer.pick(pair.id, "UALICE", new_model(pair))
    assert await preference_lines(core) == [("tuned answer 1", "current answer 1")]

    await core.comparer.pick(pair.id, "UBOB", model_in_use(pair))
    assert await preference_lines(core) == []

    await core.comparer.pick(pair.id, "UCAROL", "same")
    assert await preference_lines(core) == []


async def test_a_pick_on_a_comparison_no_longer_stored_is_not_counted(redis, store):
    core, _ = build(redis)
    comparison, [pair, _] = await a_comparison(store)
    await store.delete(comparison)

    result = await core.comparer.pick(pair.id, "UALICE", "a")

    assert not result.counted
    assert result.text == "That comparison is no longer stored."


# The gate's sequential test ------------------------------------------------------------------

# With COMPARE_ERROR_RATE=0.5 the test needs little evidence, so two conversations show it.
DECIDES = {"compare_auto_decide": True, "compare_error_rate": 0.5}


async def test_the_test_counts_people_so_one_person_picking_every_pair_is_one_voice(redis, store):
    core, thread = build(redis, **DECIDES, compare_min_votes=2)
    await gated_job(core)
    comparison, pairs = await a_comparison(store)

    for pair in pairs:
        await core.comparer.pick(pair.id, "UALICE", new_model(pair))
    assert await core.models.active() is None, "one person is one voice"
    assert (await core.comparer.get(comparison.id)).status == OPEN

    await core.comparer.pick(pairs[0].id, "UBOB", new_model(pairs[0]))

    active = await core.models.active()
    assert (active.model, active.job_id, active.reason) == (TUNED, JOB, "compare")
    assert (await core.comparer.get(comparison.id)).status == PROMOTED
    [said] = thread.said
    assert said.startswith("The team's picks (3 picks by 2 people")
    assert "the chance it is no better is under 50%" in said
    assert "3 picks by 2 people" in thread.job_messages[-1]


async def test_the_test_rejects_a_model_that_is_not_better_by_the_margin(redis, store):
    core, thread = build(redis, **DECIDES)
    comparison, [first, second] = await a_comparison(store)

    await core.comparer.pick(first.id, "UALICE", model_in_use(first))
    assert (await core.comparer.get(comparison.id)).status == OPEN
    await core.comparer.pick(second.id, "UALICE", model_in_use(second))

    assert (await core.comparer.get(comparison.id)).status == REJECTED
    assert await core.models.active() is None
    [said] = thread.said
    assert said.startswith(f"The team's picks show `{TUNED}` is not better than `{MODEL}` by 5%")
    assert said.endswith(f"so I keep `{MODEL}`.")

    late = await core.comparer.pick(first.id, "UBOB", new_model(first))
    assert not late.counted
    assert "closed (rejected)" in late.text


async def test_while_undecided_the_tally_says_about_how_many_more_picks_it_needs(redis, store):
    core, thread = build(redis, compare_auto_decide=True)  # the default 5% error rate
    await gated_job(core)
    comparison, [first, second] = await a_comparison(store)

    await core.comparer.pick(first.id, "UALICE", new_model(first))
    await core.comparer.pick(second.id, "UBOB", model_in_use(second))

    assert (await core.comparer.get(comparison.id)).status == OPEN
    assert thread.said == []
    assert "more picks to a decision" in thread.job_messages[-1]


@pytest.mark.parametrize("pick", ["same", "bad"])
async def test_ties_and_both_bad_are_recorded_and_count_for_neither_model(redis, store, pick):
    core, thread = build(redis, **DECIDES, compare_min_votes=1)
    await gated_job(core)
    comparison, pairs = await a_comparison(store)

    for person in ("UALICE", "UBOB", "UCAROL"):
        for pair in pairs:
            await core.comparer.pick(pair.id, person, pick)

    assert (await core.comparer.get(comparison.id)).status == OPEN
    assert thread.said == []
    shown = "same 6;" if pick == "same" else "same 0, both bad 6;"
    assert f"6 picks by 3 people: new model 0, current 0, {shown}" in thread.job_messages[-1]
    assert await preference_lines(core) == []  # neither answer is preferred


async def test_a_gate_undecided_after_compare_max_days_keeps_the_model_in_use(redis, store):
    core, thread = build(redis, compare_auto_decide=True, compare_max_days=7)
    comparison, [first, _] = await a_comparison(store)
    await core.comparer.pick(first.id, "UALICE", new_model(first))

    core.clock.set_now(comparison.created_at + timedelta(days=6))
    await core.comparer.resume()
    assert (await core.comparer.get(comparison.id)).status == OPEN

    core.clock.set_now(comparison.created_at + timedelta(days=7, minutes=1))
    await core.comparer.resume()
    assert (await core.comparer.get(comparison.id)).status == UNDECIDED
    assert await core.models.active() is None
    [said] = thread.said
    assert said.startswith(f"After 7 days the picks have not decided between `{TUNED}`")
    assert f"An admin can still switch with `/finetune use {TUNED}`." in said


@pytest.mark.parametrize("judge_decides", [False, True])
async def test_the_judge_models_picks_decide_only_with_judge_decides(redis, store, judge_decides):
    core, thread = build(redis, **DECIDES, compare_min_votes=1, judge_decides=judge_decides)
    comparison, pairs = await a_comparison(store)
    for pair in pairs:  # the judge model prefers the new model's answer everywhere
        await store.save_pair(pair.model_copy(update={"judge": new_model(pair)}))

    await core.comparer.pick(pairs[0].id, "UALICE", "same")  # a tie counts for neither

    promoted = (await core.comparer.get(comparison.id)).status == PROMOTED
    assert promoted is judge_decides
    assert bool(thread.said) is judge_decides


async def test_the_tally_says_how_often_the_judge_model_agreed_with_people(redis, store):
    core, thread = build(redis, compare_auto_decide=True)
    await gated_job(core)
    _, [first, second] = await a_comparison(store)
    await store.save_pair(first.model_copy(update={"judge": new_model(first)}))
    await store.save_pair(second.model_copy(update={"judge": new_model(second)}))

    await core.comparer.pick(first.id, "UALICE", new_model(first))
    await core.comparer.pick(second.id, "UALICE", model_in_use(second))

    assert "the judge model agreed with people on 1 of 2" in thread.job_messages[-1]


async def test_the_old_threshold_setting_turns_the_test_on(redis, store):
    core, _ = build(redis, compare_auto_promote=0.6, compare_error_rate=0.5, compare_min_votes=1)
    comparison, pairs = await a_comparison(store)

    await core.comparer.pick(pairs[0].id, "UALICE", new_model(pairs[0]))
    await core.comparer.pick(pairs[1].id, "UALICE", new_model(pairs[1]))

    assert (await core.comparer.get(comparison.id)).status == PROMOTED


async def test_without_the_rule_picks_never_switch_the_model(redis, store):
    core, thread = build(redis)
    comparison, pairs = await a_comparison(store)

    for person in ("UALICE", "UBOB", "UCAROL", "UDAVE"):
        for pair in pairs:
            await core.comparer.pick(pair.id, person, new_model(pair))

    assert await core.models.active() is None
    assert (await core.comparer.get(comparison.id)).status == OPEN
    assert thread.said == []


async def test_an_adhoc_comparison_never_switches_the_model_whatever_the_picks(redis, store):
    core, _ = build(redis, **DECIDES, compare_min_votes=1)
    comparison, pairs = await a_comparison(store, kind="adhoc", conversations=1)

    for person in ("UALICE", "UBOB"):
        await core.comparer.pick(pairs[0].id, person, new_model(pairs[0]))

    assert await core.models.active() is None
    assert (await core.comparer.get(comparison.id)).status == OPEN


async def test_an_admin_promotes_an_open_gate_and_a_second_promotion_changes_nothing(redis, store):
    core, thread = build(redis)
    comparison, _ = await a_comparison(store)

    said = await core.comparer.promote(await core.comparer.get(comparison.id), "UADMIN")
    again = await core.comparer.promote(await core.comparer.get(comparison.id), "UADMIN")

    assert said.startswith(f"<@UADMIN> promoted `{TUNED}`")
    assert again == "This comparison is promoted; nothing changed."
    assert thread.said == [said]
    assert len(await core.models.history()) == 1
