"""Text pieces for a fine-tuning job's status message: a progress bar, a loss sparkline, times.

Pure functions on plain values, so Slack mrkdwn, Discord and the CLI can all use them.
"""

from __future__ import annotations

import math
from itertools import pairwise

from bot.trainers.base import MetricPoint

BAR_FILLED = "▰"
BAR_EMPTY = "▱"
SPARK_LEVELS = "▁▂▃▄▅▆▇█"
# A flat series has no min..max to scale to; the middle reads as "steady", not "best" or "worst".
SPARK_FLAT = SPARK_LEVELS[len(SPARK_LEVELS) // 2 - 1]


def progress_bar(done: int, total: int, width: int = 20) -> str:
    """`▰▰▰▰▰▱▱▱… 25% (step 10 of 40)`; empty when the total isn't known yet."""
    if total <= 0:
        return ""
    done = min(max(done, 0), total)
    # Rounded down, so the bar is full and reads 100% only when the last step is done.
    filled = width * done // total
    percent = 100 * done // total
    return (
        f"{BAR_FILLED * filled}{BAR_EMPTY * (width - filled)} {percent}% (step {done} of {total})"
    )


def sparkline(values: list[float], width: int = 24) -> str:
    """The shape of a series in at most `width` block characters, lowest to highest value."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite or width <= 0:
        return ""
    if len(finite) > width:
        finite = _bucket_means(finite, width)
    low, high = min(finite), max(finite)
    if high == low:
        return SPARK_FLAT * len(finite)
    top = len(SPARK_LEVELS) - 1
    return "".join(SPARK_LEVELS[round((value - low) / (high - low) * top)] for value in finite)


def _bucket_means(values: list[float], buckets: int) -> list[float]:
    # Bucket edges spread the remainder over all buckets, so the last one (the latest loss,
    # the one people look at) averages as many values as the others instead of a stub.
    edges = [len(values) * i // buckets for i in range(buckets + 1)]
    return [sum(values[start:end]) / (end - start) for start, end in pairwise(edges)]


def format_duration(seconds: float) -> str:
    """A rough, readable length of time: `45 s`, `12 min`, `1 h 05 min`, `2 d 3 h`."""
    seconds = max(seconds, 0.0)
    # Each branch rounds to its own unit first, so 59.7 s reads "1 min", not "60 s".
    if round(seconds) < 60:
        return f"{round(seconds)} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 24 * 60:
        hours, minutes = divmod(minutes, 60)
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(round(seconds / 3600), 24)
    return f"{days} d {hours} h"


def time_left(elapsed_seconds: float, done: int, total: int) -> float | None:
    """Seconds still to go at the pace so far; None when there is no pace yet or nothing left."""
    if done <= 0 or total <= 0 or done >= total:
        return None
    return max(elapsed_seconds, 0.0) / done * (total - done)


def metrics_by_step(points: list[MetricPoint]) -> list[MetricPoint]:
    """One point per step in step order; a step reported twice keeps its last report."""
    latest = {point.step: point for point in points}
    return [latest[step] for step in sorted(latest)]


def loss_series(points: list[MetricPoint]) -> tuple[list[float], list[float]]:
    """Training and validation losses in step order, each without the steps that lack it."""
    ordered = metrics_by_step(points)
    train = [point.train_loss for point in ordered if point.train_loss is not None]
    valid = [point.valid_loss for point in ordered if point.valid_loss is not None]
    return train, valid


TREND_POINTS = 24  # what a sparkline shows; a job record keeps no more than this


def trend(values: list[float], points: int = TREND_POINTS) -> list[float]:
    """A long series averaged down to at most `points` values, its shape kept."""
    finite = [value for value in values if math.isfinite(value)]
    return _bucket_means(finite, points) if len(finite) > points else finite
