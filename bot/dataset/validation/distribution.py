"""Distributions the cookbook's data-prep notebook prints (min / max, mean / median, and the
10th and 90th percentiles it labels "p5 / p95"), computed from histograms {value: how many},
which stay small however long the dataset is. Percentiles interpolate linearly between the
two nearest values, as numpy's `quantile` does by default, so every figure equals the
notebook's."""

from __future__ import annotations

from collections import Counter

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
    n = counts.total()
    if n == 0:
        return None
    total = sum(value * count for value, count in counts.items())
    return Distribution(
        min=min(counts),
        max=max(counts),
        mean=total / n,
        median=quantile(counts, 0.5),
        p10=quantile(counts, LOW),
        p90=quantile(counts, HIGH),
    )


def quantile(counts: Counter[int], q: float) -> float:
    """numpy's linear quantile of the values a histogram holds."""
    position = q * (counts.total() - 1)
    below = int(position)
    low, high = _at(counts, below), _at(counts, min(below + 1, counts.total() - 1))
    return low + (high - low) * (position - below)


def _at(counts: Counter[int], index: int) -> int:
    """The value at a 0-based position in sorted order."""
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if index < seen:
            return value
    raise IndexError(index)
