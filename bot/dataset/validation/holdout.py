"""The holdout: which examples go to the validation file, the same ones every time for the
same ids."""

from __future__ import annotations

import hashlib
import math


def split_holdout(example_ids: list[str], fraction: float) -> tuple[list[str], list[str]]:
    """Split ids into (training, validation), the same way every time for the same ids.

    Ids are ranked by the sha256 of their text and the lowest-ranked go to validation, so a
    split never depends on the order of the input or on a random seed, and adding examples
    moves few existing ones across. Both lists keep the input order.
    """
    if not isinstance(fraction, int | float) or not 0 < fraction <= 0.5:
        raise ValueError(f"the holdout fraction must be above 0 and at most 0.5, not {fraction}")
    if len(set(example_ids)) != len(example_ids):
        raise ValueError("example ids must be unique to split them")
    n = len(example_ids)
    if n < 2:
        return list(example_ids), []
    # Round half up, but keep at least one example on each side.
    size = min(max(1, math.floor(n * fraction + 0.5)), n - 1)
    ranked = sorted(example_ids, key=lambda id_: hashlib.sha256(id_.encode("utf-8")).digest())
    held_out = set(ranked[:size])
    training = [id_ for id_ in example_ids if id_ not in held_out]
    validation = [id_ for id_ in example_ids if id_ in held_out]
    return training, validation
