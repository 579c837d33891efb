"""The end-of-job loss chart: a PNG of the right size, or None when there is nothing to draw."""

from __future__ import annotations

import math
import struct
import sys

import pytest

from bot.trainers.base import MetricPoint
from bot.training.loss_chart import charts_available, render_loss_chart

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

needs_matplotlib = pytest.mark.skipif(not charts_available(), reason="the charts extra is missing")


def png_size(png: bytes) -> tuple[int, int]:
    # The IHDR chunk comes first: 4-byte length, b"IHDR", then big-endian width and height.
    assert png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def training_run(steps: int = 60) -> list[MetricPoint]:
    return [
        MetricPoint(
            step=step,
            train_loss=2.0 / step,
            valid_loss=2.2 / step if step % 10 == 0 else None,
        )
        for step in range(1, steps + 1)
    ]


@needs_matplotlib
def test_the_chart_is_an_800_by_450_png():
    png = render_loss_chart(training_run(), "ft:gpt-4.1-mini:support")
    assert png is not None
    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (800, 450)


@needs_matplotlib
def test_unordered_points_with_repeated_steps_still_draw():
    points = [
        MetricPoint(step=5, train_loss=1.0),
        MetricPoint(step=1, train_loss=2.0, valid_loss=2.1),
        MetricPoint(step=5, train_loss=0.9, valid_loss=1.1),
        MetricPoint(step=3, train_loss=math.inf),
        MetricPoint(step=1, train_loss=1.9),
    ]
    png = render_loss_chart(points, "a retried job")
    assert png is not None
    assert png.startswith(PNG_SIGNATURE)


@needs_matplotlib
@pytest.mark.parametrize(
    "points",
    [[MetricPoint(step=1, train_loss=0.5)], [MetricPoint(step=7, valid_loss=0.8)]],
)
def test_a_single_loss_is_enough_for_a_chart(points):
    assert render_loss_chart(points, "short job") is not None


@pytest.mark.parametrize(
    "points",
    [[], [MetricPoint(step=1), MetricPoint(step=2)], [MetricPoint(step=1, train_loss=math.nan)]],
)
def test_no_chart_without_a_loss_to_draw(points):
    assert render_loss_chart(points, "empty") is None


def test_no_chart_when_matplotlib_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert not charts_available()
    assert render_loss_chart(training_run(), "no extra") is None
