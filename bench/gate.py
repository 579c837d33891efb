"""The comparison gate against synthetic pickers with a known true win rate.

Each simulated gate has a team of 3-12 people and up to `conversations` conversations to
judge. People come back in a random order and each picks on a conversation they haven't
judged; 15% of picks are ties or "both bad", which count for neither model. After every pick
the gate decides (promote, reject, keep collecting) and stops at its first decision; a gate
whose people have judged everything ends with no decision.

Beside it, the naive rule a team would write by hand, looked at after every pick the same way:
promote as soon as the new model has at least 60% of at least `naive_min` counted picks.
Printed for each true rate: how often each promoted (at 0.50 and below, every promotion is a
mistake) and the median and 90th-percentile counted picks to a decision.
"""

from __future__ import annotations

import random
import statistics

from bot.comparison.sequential import boundaries

RATES = (0.45, 0.50, 0.55, 0.60, 0.70)
TIE_SHARE = 0.15


def run(
    gates: int = 3000,
    conversations: int = 50,
    error_rate: float = 0.05,
    min_lift: float = 0.05,
    naive_min: int = 10,
    seed: int = 7,
) -> dict:
    rng = random.Random(seed)
    most = conversations * 12
    table = [boundaries(n, error_rate, min_lift) for n in range(most + 1)]
    rows = []
    for rate in RATES:
        sequential, naive = [], []
        for _ in range(gates):
            picks = _picks(rng, rate, conversations)
            sequential.append(_sequential(picks, table))
            naive.append(_naive(picks, naive_min))
        rows.append({"rate": rate, "test": _summary(sequential), "naive": _summary(naive)})
    result = {
        "gates": gates,
        "conversations": conversations,
        "error_rate": error_rate,
        "min_lift": min_lift,
        "naive_rule": f"promote at >= 60% after >= {naive_min} picks",
        "rows": rows,
    }
    _print(result)
    return result


def _picks(rng: random.Random, rate: float, conversations: int) -> list[bool]:
    """The counted picks of one gate in the order they come: True for the new model."""
    people = rng.randint(3, 12)
    # Each person judges a random number of conversations, in visits interleaved with others.
    budgets = [rng.randint(1, conversations) for _ in range(people)]
    visits = [person for person, budget in enumerate(budgets) for _ in range(budget)]
    rng.shuffle(visits)
    picks = []
    for _ in visits:
        if rng.random() < TIE_SHARE:
            continue
        picks.append(rng.random() < rate)
    return picks


def _sequential(picks: list[bool], table: list[tuple[int | None, int | None]]) -> tuple[str, int]:
    wins = 0
    for count, won in enumerate(picks, start=1):
        wins += won
        promote_at, reject_up_to = table[count]
        if promote_at is not None and wins >= promote_at:
            return "promote", count
        if reject_up_to is not None and wins <= reject_up_to:
            return "reject", count
    return "none", len(picks)


def _naive(picks: list[bool], minimum: int) -> tuple[str, int]:
    wins = 0
    for count, won in enumerate(picks, start=1):
        wins += won
        if count >= minimum and wins >= 0.6 * count:
            return "promote", count
    return "none", len(picks)


def _summary(outcomes: list[tuple[str, int]]) -> dict:
    decided = sorted(count for outcome, count in outcomes if outcome != "none")
    share = {
        name: sum(outcome == name for outcome, _ in outcomes) / len(outcomes)
        for name in ("promote", "reject", "none")
    }
    return {
        **share,
        "median_picks": statistics.median(decided) if decided else None,
        "p90_picks": decided[int(0.9 * (len(decided) - 1))] if decided else None,
    }


def _print(result: dict) -> None:
    print(
        f"{result['gates']} gates per rate, up to {result['conversations']} conversations, "
        f"3-12 people; COMPARE_ERROR_RATE={result['error_rate']}, "
        f"COMPARE_MIN_LIFT={result['min_lift']}; naive: {result['naive_rule']}"
    )
    print(
        f"{'rate':>5} | {'promoted':>8} {'rejected':>8} {'none':>6} {'median':>6} {'p90':>5} "
        f"| naive {'promoted':>8} {'median':>6} {'p90':>5}"
    )
    for row in result["rows"]:
        test, naive = row["test"], row["naive"]
        print(
            f"{row['rate']:>5.2f} | {test['promote']:>8.1%} {test['reject']:>8.1%} "
            f"{test['none']:>6.1%} {_n(test['median_picks']):>6} {_n(test['p90_picks']):>5} "
            f"|       {naive['promote']:>8.1%} {_n(naive['median_picks']):>6} "
            f"{_n(naive['p90_picks']):>5}"
        )


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
