"""Distributions the cookbook's data-prep notebook prints (min / max, mean / median, and the
10th and 90th percentiles it labels "p5 / p95"), computed from histograms {value: how many},
which stay small however long the dataset is. Percentiles interpolate linearly between the
two nearest values, as numpy's `quantile` does by default, so every figure equals the
notebook's."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from itertools import accumulate

from pydantic import BaseModel

LOW, HIGH = 0.1, 0.9  # the notebook's `np.quantile(values, 0.1)` and `(values, 0.9)`


class Distribution(BaseModel):
    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


def distribution(counts: Counter[int]) -> Distribution | None:
    """The distribution of a histogram; None when it is empty."""
    if not counts:
        return None
    ordered = _Ordered(counts)
    return Distribution(
        min=ordered.values[0],
        max=ordered.values[-1],
        mean=sum(value * count for value, count in counts.items()) / ordered.n,
        median=ordered.quantile(0.5),
        p10=ordered.quantile(LOW),
        p90=ordered.quantile(HIGH),
    )


def quantile(counts: Counter[int], q: float) -> float:
    """numpy's linear quantile of the values a histogram holds."""
    return _Ordered(counts).quantile(q)


class _Ordered:
    """A histogram's values in order, with how many lie at or below each: sorted once."""

    def __init__(self, counts: Counter[int]) -> None:
        self.values = sorted(counts)
        self.through = list(accumulate(counts[value] for value in self.values))
        self.n = self.through[-1]

    def quantile(self, q: float) -> float:
        position = q * (self.n - 1)
        below = int(position)
        low, high = self._at(below), self._at(min(below + 1, self.n - 1))
        return low + (high - low) * (position - below)

    def _at(self, index: int) -> int:
        """The value at a 0-based position in sorted order."""
        return self.values[bisect_right(self.through, index)]
