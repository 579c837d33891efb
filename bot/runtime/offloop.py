"""Work over a dataset streamed from Redis, done in a worker thread so the event loop keeps
answering: checking and counting 100,000 examples takes seconds of CPU."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


async def in_thread(
    batches: AsyncIterator[list[dict[str, Any]]], work: Callable[[Iterator[dict[str, Any]]], T]
) -> T:
    """`work(lines)` in a worker thread, over the lines `batches` reads on this event loop.

    The thread asks the loop for one batch at a time, so Redis is read as the work goes and
    only a batch is in memory; the loop keeps serving everything else meanwhile.
    """
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    async def next_batch() -> list[dict[str, Any]] | None:
        return await anext(batches, None)

    def lines() -> Iterator[dict[str, Any]]:
        while not stop.is_set():
            batch = asyncio.run_coroutine_threadsafe(next_batch(), loop).result()
            if batch is None:
                return
            yield from batch

    try:
        result = await asyncio.to_thread(work, lines())
    except asyncio.CancelledError:
        stop.set()  # the thread finishes its batch and stops; it may still be reading one
        raise
    except BaseException:
        await batches.aclose()
        raise
    await batches.aclose()
    return result
