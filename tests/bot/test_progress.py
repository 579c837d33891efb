"""Status-message text: the progress bar, the loss sparkline, durations and time left."""

from __future__ import annotations

import math

import pytest

from bot.trainers.base import MetricPoint
from bot.training.progress import (
    SPARK_FLAT,
    SPARK_LEVELS,
    format_duration,
    loss_series,
    metrics_by_step,
    progress_bar,
    sparkline,
    time_left,
)

# --- progress_bar ------------------------------------------------------------------------------


def test_progress_bar_shows_the_share_done_and_the_steps():
    assert progress_bar(10, 40) == "▰▰▰▰▰▱▱▱▱▱▱▱▱▱▱▱▱▱▱▱ 25% (step 10 of 40)"


def test_progress_bar_is_full_only_when_the_last_step_is_done():
    assert progress_bar(399, 400).startswith("▰" * 19 + "▱ 99%")
    assert progress_bar(400, 400) == "▰" * 20 + " 100% (step 400 of 400)"


@pytest.mark.parametrize(
    ("done", "expected"),
    [(-3, "▱▱▱▱ 0% (step 0 of 8)"), (12, "▰▰▰▰ 100% (step 8 of 8)")],
)
def test_progress_bar_clamps_steps_outside_the_job(done, expected):
    assert progress_bar(done, 8, width=4) == expected


@pytest.mark.parametrize("total", [0, -1])
def test_progress_bar_is_empty_without_a_total(total):
    assert progress_bar(5, total) == ""


# --- sparkline ---------------------------------------------------------------------------------


def test_sparkline_scales_from_lowest_to_highest_block():
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7]) == "▁▂▃▄▅▆▇█"
    assert sparkline([2.0, 1.0, 0.5]) == "█▃▁"


def test_a_flat_series_is_a_flat_middle_line():
    assert sparkline([1.5, 1.5, 1.5]) == SPARK_FLAT * 3
    assert SPARK_FLAT in SPARK_LEVELS[3:5]


def test_sparkline_is_empty_without_values():
    assert sparkline([]) == ""
    assert sparkline([math.nan, math.inf]) == ""


def test_sparkline_ignores_values_that_are_not_finite():
    assert sparkline([0.0, math.nan, 1.0, math.inf, -math.inf]) == "▁█"


def test_a_long_series_is_averaged_down_to_the_width():
    line = sparkline([float(i) for i in range(1000)], width=10)
    assert len(line) == 10
    assert line[0] == "▁"
    assert line[-1] == "█"


def test_averaging_keeps_the_last_values_in_a_full_bucket():
    # 10 values into 4 buckets of 2 or 3: the final bucket holds the last three (all 8.0),
    # where chunks of 3 would leave the last value alone in a stub bucket.
    values = [0.0] * 7 + [8.0] * 3
    assert sparkline(values, width=4) == "▁▁▁█"
    assert len(sparkline([1.0, 2.0] * 50, width=24)) == 24


def test_a_short_series_keeps_one_block_per_value():
    assert len(sparkline([3.0, 2.0, 1.0], width=24)) == 3


# --- format_duration ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0, "0 s"),
        (45, "45 s"),
        (59.4, "59 s"),
        (59.7, "1 min"),
        (12 * 60 + 10, "12 min"),
        (3599, "1 h 00 min"),
        (3600 + 5 * 60, "1 h 05 min"),
        (23 * 3600 + 59 * 60 + 50, "1 d 0 h"),
        (2 * 86400 + 3 * 3600 + 100, "2 d 3 h"),
        (-5, "0 s"),
    ],
)
def test_format_duration_picks_a_readable_unit(seconds, expected):
    assert format_duration(seconds) == expected


# --- time_left ---------------------------------------------------------------------------------


def test_time_left_extrapolates_the_pace_so_far():
    assert time_left(600, 10, 40) == pytest.approx(1800)


@pytest.mark.parametrize(("done", "total"), [(0, 40), (-1, 40), (10, 0), (40, 40), (41, 40)])
def test_time_left_is_unknown_without_a_pace_or_work_left(done, total):
    assert time_left(600, done, total) is None


# --- loss_series -------------------------------------------------------------------------------


def test_loss_series_orders_by_step_and_skips_missing_losses():
    points = [
        MetricPoint(step=3, train_loss=1.0, valid_loss=1.4),
        MetricPoint(step=1, train_loss=2.0),
        MetricPoint(step=2, train_loss=1.5),
        MetricPoint(step=4, valid_loss=1.2),
    ]
    assert loss_series(points) == ([2.0, 1.5, 1.0], [1.4, 1.2])


def test_a_step_reported_twice_keeps_its_last_report():
    points = [
        MetricPoint(step=2, train_loss=9.0),
        MetricPoint(step=1, train_loss=2.0),
        MetricPoint(step=2, train_loss=1.5),
    ]
    assert metrics_by_step(points) == [points[1], points[2]]
    assert loss_series(points) == ([2.0, 1.5], [])


def test_loss_series_of_no_points_is_empty():
    assert loss_series([]) == ([], [])
