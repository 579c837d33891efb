"""The PNG chart of training and validation loss per step, posted when a job ends.

matplotlib is the optional `charts` extra; without it the bot posts the text summary alone.
"""

from __future__ import annotations

import io
import math

from bot.trainers.base import MetricPoint
from bot.training.progress import metrics_by_step

# 8 x 4.5 inches at 100 dpi: 800 x 450 px, wide enough for a Slack preview to stay legible.
FIGURE_INCHES = (8.0, 4.5)
DPI = 100


def charts_available() -> bool:
    """Whether matplotlib can be imported, i.e. the `charts` extra is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_loss_chart(points: list[MetricPoint], title: str) -> bytes | None:
    """The chart as PNG bytes; None without matplotlib or without a single loss to draw."""
    ordered = metrics_by_step(points)
    train_steps, train_losses = _series(ordered, "train_loss")
    valid_steps, valid_losses = _series(ordered, "valid_loss")
    if not (train_losses or valid_losses) or not charts_available():
        return None
    # Imported here so the bot starts without the extra. Figure + the Agg canvas, not pyplot:
    # no display is needed, no global backend or figure registry is touched, nothing leaks.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGURE_INCHES, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if train_losses:
        # A single point draws no line; a marker keeps it visible.
        marker = "o" if len(train_losses) == 1 else ""
        axes.plot(train_steps, train_losses, label="training", linewidth=1.2, marker=marker)
    if valid_losses:
        # Validation is reported on far fewer steps; markers show where the samples are.
        axes.plot(
            valid_steps, valid_losses, label="validation", linewidth=1.5, marker="o", markersize=4
        )
    axes.set_title(title)
    axes.set_xlabel("Step")
    axes.set_ylabel("Loss")
    axes.grid(True, alpha=0.3)
    axes.legend()
    png = io.BytesIO()
    figure.savefig(png, format="png", dpi=DPI)
    return png.getvalue()


def _series(points: list[MetricPoint], field: str) -> tuple[list[int], list[float]]:
    # A diverged run can report inf or NaN; left in, it would wreck the axis range.
    pairs = [
        (point.step, loss)
        for point in points
        if (loss := getattr(point, field)) is not None and math.isfinite(loss)
    ]
    return [step for step, _ in pairs], [loss for _, loss in pairs]
