"""A job's export snapshot written from a file on disk: `JobStore.save_export` for a training
file of hundreds of megabytes, which must never be in memory whole, not even compressed.

The snapshot is the same hash fields `JobStore.save_export` writes and `load_export` reads (the
sha256 of the file, and the file gzip'd and base64'd). The file is read and compressed a chunk
at a time off the event loop; each piece of base64 is appended to a scratch string in Redis,
and one script moves the whole string into the job's hash, so what the process holds is one
chunk, and a half-written snapshot is never seen. It reaches into the `JobStore` it writes for
(same package, same keys) until `save_export` itself takes a file.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import zlib
from pathlib import Path
from typing import BinaryIO

from storage import scripts
from storage.jobs import JobStore

CHUNK_BYTES = 1024 * 1024
SCRATCH_TTL_SECONDS = 3600  # a process that dies mid-way leaves no string for long

# KEYS: the job's export hash, the scratch string, the index of snapshots
# ARGV: sha256 field, sha256, packed field, job id
_MOVE_INTO_HASH = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2], ARGV[3], redis.call('GET', KEYS[2]) or '')
redis.call('DEL', KEYS[2])
redis.call('SADD', KEYS[3], ARGV[4])
return 1
"""


async def save_export_file(jobs: JobStore, job_id: str, name: str, path: Path) -> str:
    """Keep the file `path` with the job as its `name` export; return the file's sha256."""
    redis, export = jobs._redis, jobs._keys.job_export(job_id)
    # The same hash tag as the export, so the script may touch both on Redis Cluster.
    scratch = f"{export}:packing:{name}"
    await redis.delete(scratch)
    packer = _Packer(await asyncio.to_thread(path.open, "rb"))
    try:
        while piece := await asyncio.to_thread(packer.next_piece):
            if await redis.append(scratch, piece) == len(piece):  # the first piece
                await redis.expire(scratch, SCRATCH_TTL_SECONDS)
    finally:
        packer.close()
    move = scripts.register(redis, _MOVE_INTO_HASH)
    await move(
        keys=[export, scratch, jobs._keys.job_exports],
        args=[f"{name}:sha256", packer.sha256, f"{name}:jsonl.gz.b64", job_id],
    )
    return packer.sha256


class _Packer:
    """The file's gzip as base64, a piece at a time, and its sha256 once it is all read."""

    def __init__(self, file: BinaryIO) -> None:
        self._file = file
        self._digest = hashlib.sha256()
        # gzip framing (wbits 16 + 15), level 6: a fraction of level 9's time, a little bigger.
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
        self._pending = b""  # compressed bytes not yet encoded: base64 takes them 3 at a time
        self._done = False

    def next_piece(self) -> bytes:
        """The next base64 piece; b"" once the whole file is in."""
        while not self._done:
            chunk = self._file.read(CHUNK_BYTES)
            if chunk:
                self._digest.update(chunk)
                self._pending += self._compressor.compress(chunk)
            else:
                self._pending += self._compressor.flush()
                self._done = True
            if len(self._pending) >= CHUNK_BYTES:
                cut = len(self._pending) - len(self._pending) % 3
                piece, self._pending = self._pending[:cut], self._pending[cut:]
                return base64.b64encode(piece)
        piece, self._pending = self._pending, b""
        return base64.b64encode(piece)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def close(self) -> None:
        self._file.close()
