"""The check a start and `/finetune validate` run over the training lines: the cookbook's
checks on examples, or the pairs' checks for DPO."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.dataset.preferences import analyse_pairs
from bot.dataset.validation import DatasetReport, analyse_dataset
from bot.training.model_table import ModelTable


def analyse_lines(
    lines: Iterable[dict[str, Any]],
    model: str,
    table: ModelTable,
    epochs: int | None,
    method: str,
    keep: Any = None,  # a list, or anything with `append` and `extend` (a TrainingSpool)
) -> DatasetReport:
    if method == "dpo":
        # The pairs' check reads its lines twice; pairs are people's corrections, not 100k.
        return analyse_pairs(list(lines), model, table, epochs, keep)
    return analyse_dataset(lines, model, table, epochs, keep)
