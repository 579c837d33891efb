"""The gate's decision: an anytime-valid sequential test on people's picks.

Each counted pick is one person's latest pick on one conversation, for the new model (a win)
or for the current one (a loss); ties and "both bad" are kept but count for neither. With p the
chance that a person prefers the new model, two tests run side by side after every pick:

- *promote* when the picks show p > 1/2;
- *reject* when they show p < 1/2 + COMPARE_MIN_LIFT (the new model is not better by the
  margin worth a swap).

Each is a mixture sequential probability ratio test (Robbins 1970; see Howard, Ramdas,
McAuliffe and Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence sequences", Ann.
Statist. 2021): the likelihood of the picks under alternatives spread uniformly over the other
side of the boundary, divided by their likelihood at the boundary. Under the null that ratio is
a nonnegative supermartingale, so by Ville's inequality it ever reaches 1/COMPARE_ERROR_RATE
with probability at most COMPARE_ERROR_RATE, however often it is looked at. That is what makes
it safe to decide after every pick, where a fixed-sample rule ("60% after 20 picks") checked
after every pick promotes a model that is no better far more often than it says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Decision = Literal["promote", "reject", "continue"]

# The mixture integrals are sums over this many points: exact to well under 1% of the ratio
# for the few hundred picks a gate sees, and pure Python (no SciPy for one integral).
GRID = 400
MORE_PICKS_LIMIT = 10_000  # past this, "many more picks" is the honest estimate


@dataclass(frozen=True)
class Evidence:
    """The two tests' standing after `wins` picks for the new model and `losses` against."""

    wins: int
    losses: int
    promote_ratio: float  # evidence that p > 1/2; promote at 1/error_rate
    reject_ratio: float  # evidence that p < 1/2 + min_lift; reject at 1/error_rate
    decision: Decision
    more_picks: int | None  # about how many more picks to a decision, at today's share

    @property
    def picks(self) -> int:
        return self.wins + self.losses


def _log_mixture(wins: int, losses: int, low: float, high: float, boundary: float) -> float:
    """log of the mean over q uniform in [low, high] of the picks' likelihood at q, divided
    by their likelihood at `boundary` (a midpoint sum in log space)."""
    at_boundary = wins * math.log(boundary) + losses * math.log1p(-boundary)
    step = (high - low) / GRID
    logs = []
    for i in range(GRID):
        q = low + (i + 0.5) * step
        logs.append(wins * math.log(q) + losses * math.log1p(-q))
    top = max(logs)
    mean = math.log(sum(math.exp(value - top) for value in logs) / GRID) + top
    return mean - at_boundary


def _ratios(wins: int, losses: int, min_lift: float) -> tuple[float, float]:
    promote = _log_mixture(wins, losses, 0.5, 1.0, 0.5)
    bar = 0.5 + min_lift
    reject = _log_mixture(wins, losses, 0.0, bar, bar)
    return promote, reject


def evidence(wins: int, losses: int, error_rate: float, min_lift: float) -> Evidence:
    """Where the picks stand, and about how many more picks a decision needs."""
    threshold = math.log(1 / error_rate)
    promote, reject = _ratios(wins, losses, min_lift)
    decision = _decide(promote, reject, threshold)
    more = None if decision != "continue" else _more_picks(wins, losses, threshold, min_lift)
    return Evidence(
        wins=wins,
        losses=losses,
        promote_ratio=math.exp(min(promote, 700)),
        reject_ratio=math.exp(min(reject, 700)),
        decision=decision,
        more_picks=more,
    )


def boundaries(picks: int, error_rate: float, min_lift: float) -> tuple[int | None, int | None]:
    """For `picks` counted picks: the fewest wins that promote and the most that reject (None
    where no count does). The decision is monotone in wins, so a simulation of many gates
    (bench/gate.py) looks these up instead of integrating at every pick."""
    threshold = math.log(1 / error_rate)

    def first(predicate) -> int | None:
        low, high = 0, picks + 1  # predicate false below `low`... true from `high` on
        while low < high:
            middle = (low + high) // 2
            if predicate(middle):
                high = middle
            else:
                low = middle + 1
        return low if low <= picks else None

    promote_at = first(lambda wins: _ratios(wins, picks - wins, min_lift)[0] >= threshold)
    not_rejected = first(lambda wins: _ratios(wins, picks - wins, min_lift)[1] < threshold)
    if not_rejected == 0:
        return promote_at, None
    return promote_at, picks if not_rejected is None else not_rejected - 1


def _decide(promote: float, reject: float, threshold: float) -> Decision:
    if promote >= threshold:
        return "promote"
    if reject >= threshold:
        return "reject"
    return "continue"


def _more_picks(wins: int, losses: int, threshold: float, min_lift: float) -> int | None:
    """Picks to a decision if the next ones split as the picks so far (half and half before
    any): the smallest such count, found by doubling then halving; None if past the limit."""
    share = (wins + 1) / (wins + losses + 2)  # Laplace's rule: no pick yet is an even split

    def decided(more: int) -> bool:
        extra_wins = round(more * share)
        promote, reject = _ratios(wins + extra_wins, losses + more - extra_wins, min_lift)
        return _decide(promote, reject, threshold) != "continue"

    high = 1
    while not decided(high):
        high *= 2
        if high > MORE_PICKS_LIMIT:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if decided(middle):
            high = middle
        else:
            low = middle
    return high
