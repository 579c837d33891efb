"""The files a fine-tuning job uploads: the trainable lines spooled to disk as the check passes
them, then split into training and validation files the same way every time.

Only each line's place in the spool (and its id, when a holdout may be made) stays in memory,
so starting a job on 100,000 examples holds a few megabytes, not the whole dataset.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from typing import Any

from bot.dataset.export import jsonl
from bot.dataset.tempfiles import TempFile
from bot.dataset.validation import split_holdout as split_ids
from storage.schemas import content_id

AUTO_HOLDOUT_MIN_EXAMPLES = 100
AUTO_HOLDOUT_FRACTION = 0.1


class TrainingSpool:
    """Where the dataset check puts the lines that can train (its `keep`), written to disk as
    they come; `split` then makes the training and validation files from it and hands them
    to the caller, who discards them."""

    def __init__(self, holdout: float | None) -> None:
        self._holdout = holdout
        self._file: TempFile | None = TempFile(prefix="trainable-")
        self._starts = array("q")  # where each line starts in the file
        # A holdout needs each line's id; an explicit holdout of 0 never does.
        self._ids: list[str] | None = [] if holdout != 0 else None

    @property
    def _spooled(self) -> TempFile:
        if self._file is None:
            raise ValueError("the spool was split or discarded")
        return self._file

    def append(self, line: dict[str, Any]) -> None:
        self._starts.append(self._spooled.write(jsonl(line).encode(), 1))
        if self._ids is not None:
            self._ids.append(line_id(line))

    def extend(self, lines: Iterable[dict[str, Any]]) -> None:
        for line in lines:
            self.append(line)

    def __len__(self) -> int:
        return self._spooled.lines

    def split(self) -> tuple[TempFile, TempFile | None]:
        """The training file and the validation file (None without a holdout), as the job
        uploads them. Without a holdout the training file is the spool itself, in the order of
        approval. With one (10% from 100 examples on, unless the start said otherwise), lines
        with the same id are one example (the last of them), the ids are split by
        `split_holdout`, and each file lists its lines in the order of their ids."""
        holdout = self._holdout
        if holdout is None:
            holdout = AUTO_HOLDOUT_FRACTION if len(self) >= AUTO_HOLDOUT_MIN_EXAMPLES else 0
        if not holdout:
            training, self._file = self._spooled.finish(), None  # the caller has it now
            return training, None
        assert self._ids is not None
        last = {id_: index for index, id_ in enumerate(self._ids)}
        training_ids, validation_ids = split_ids(sorted(last), holdout)
        training = self._copy([last[i] for i in training_ids], "training-")
        try:
            validation = self._copy([last[i] for i in validation_ids], "validation-")
        except BaseException:
            training.discard()
            raise
        self.discard()
        if not validation.lines:
            validation.discard()
            return training, None
        return training, validation

    def _copy(self, indexes: list[int], prefix: str) -> TempFile:
        out = TempFile(prefix=prefix)
        ends = self._spooled.size
        try:
            with self._spooled.open() as spool:
                for index in indexes:
                    start = self._starts[index]
                    end = self._starts[index + 1] if index + 1 < len(self._starts) else ends
                    spool.seek(start)
                    out.write(spool.read(end - start), 1)
            return out.finish()
        except BaseException:
            out.discard()
            raise

    def discard(self) -> None:
        if self._file is not None:
            self._file.discard()
            self._file = None
        self._starts = array("q")
        self._ids = None


def line_id(line: dict[str, Any]) -> str:
    # A preference line has no `messages`; the whole line names it.
    return content_id(line.get("messages", [line]))
