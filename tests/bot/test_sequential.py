"""The gate's sequential test: it may be looked at after every pick and still promote a model
that is no better at most COMPARE_ERROR_RATE of the time."""

import random

import pytest

from bot.comparison.sequential import boundaries, evidence


def promoted_share(rate: float, gates: int, picks: int, error_rate: float = 0.05) -> float:
    rng = random.Random(11)
    table = [boundaries(n, error_rate, 0.05) for n in range(picks + 1)]
    promoted = 0
    for _ in range(gates):
        wins = 0
        for count in range(1, picks + 1):
            wins += rng.random() < rate
            promote_at, reject_up_to = table[count]
            if promote_at is not None and wins >= promote_at:
                promoted += 1
                break
            if reject_up_to is not None and wins <= reject_up_to:
                break
    return promoted / gates


@pytest.mark.parametrize("rate", [0.40, 0.50])
def test_a_model_that_is_no_better_is_promoted_at_most_the_error_rate_however_often_we_look(
    rate,
):
    assert promoted_share(rate, gates=2000, picks=200) <= 0.05


def test_a_clearly_better_model_is_promoted_most_of_the_time():
    assert promoted_share(0.75, gates=500, picks=200) >= 0.9


def test_seven_straight_wins_promote_at_five_percent_and_six_do_not():
    assert evidence(7, 0, 0.05, 0.05).decision == "promote"
    assert evidence(6, 0, 0.05, 0.05).decision == "continue"


def test_mostly_losses_reject_and_an_even_split_keeps_collecting():
    assert evidence(2, 14, 0.05, 0.05).decision == "reject"
    assert evidence(10, 10, 0.05, 0.05).decision == "continue"


def test_the_estimate_of_picks_still_needed_shrinks_as_a_lead_grows():
    early = evidence(3, 1, 0.05, 0.05).more_picks
    later = evidence(5, 1, 0.05, 0.05).more_picks
    assert early is not None and later is not None and later < early
    assert evidence(7, 0, 0.05, 0.05).more_picks is None  # decided: nothing more needed


def test_boundaries_agree_with_the_test_itself():
    for picks in (10, 25, 60):
        promote_at, reject_up_to = boundaries(picks, 0.05, 0.05)
        for wins in range(picks + 1):
            decision = evidence(wins, picks - wins, 0.05, 0.05).decision
            expected = (
                "promote"
                if promote_at is not None and wins >= promote_at
                else "reject"
                if reject_up_to is not None and wins <= reject_up_to
                else "continue"
            )
            assert decision == expected, (picks, wins)
