"""Temporary files that carry a dataset out of the bot: written a batch at a time, sent or
uploaded from disk, deleted after use, also when something failed on the way.

A dataset of 100,000 examples is a JSONL of hundreds of megabytes; held in memory it would grow
the process by several times that, so it goes from Redis to disk to the network instead.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import BinaryIO

CHUNK_BYTES = 1024 * 1024


class TempFile:
    """A file in the temporary directory, deleted by `discard()` (or a `with` block), and in
    any case once nothing refers to it any more, so a failure on the way leaves nothing behind."""

    def __init__(self, suffix: str = ".jsonl", prefix: str = "finetune-") -> None:
        descriptor, name = tempfile.mkstemp(prefix=prefix, suffix=suffix)
        self.path = Path(name)
        self._writer: BinaryIO | None = os.fdopen(descriptor, "wb")
        self.lines = 0  # JSONL lines written
        self.size = 0  # bytes written
        self._delete = weakref.finalize(self, _delete, self.path, self._writer)

    def write(self, data: bytes, lines: int = 0) -> int:
        """Append `data` holding `lines` lines; return the offset it starts at."""
        if self._writer is None:
            raise ValueError(f"{self.path.name} is finished; nothing more can be written")
        offset = self.size
        self._writer.write(data)
        self.size += len(data)
        self.lines += lines
        return offset

    def finish(self) -> TempFile:
        """Everything is written: flush it to disk, so it can be read and sent."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self

    def open(self) -> BinaryIO:
        self.finish()
        return self.path.open("rb")

    def read_bytes(self) -> bytes:
        """The whole file in memory: for small files and tests only."""
        self.finish()
        return self.path.read_bytes()

    def sha256(self) -> str:
        digest = hashlib.sha256()
        with self.open() as file:
            while chunk := file.read(CHUNK_BYTES):
                digest.update(chunk)
        return digest.hexdigest()

    def gzipped(self) -> TempFile:
        """A gzip'd copy, in a temporary file of its own."""
        packed = TempFile(suffix=self.path.suffix + ".gz", prefix=self.path.stem + "-")
        try:
            assert packed._writer is not None
            with self.open() as source, gzip.GzipFile(fileobj=packed._writer, mode="wb") as out:
                shutil.copyfileobj(source, out, CHUNK_BYTES)
            packed.size = packed._writer.tell()
            packed.lines = self.lines
            return packed.finish()
        except BaseException:
            packed.discard()
            raise

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def discard(self) -> None:
        """Delete the file; calling it again does nothing."""
        self._writer = None
        self._delete()

    def __enter__(self) -> TempFile:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.discard()


def _delete(path: Path, writer: BinaryIO) -> None:
    # Holds no reference to the TempFile, so it can run when the TempFile is collected.
    writer.close()
    path.unlink(missing_ok=True)
