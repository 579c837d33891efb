"""Work over a streamed dataset runs in a thread while the event loop keeps answering."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from bot.runtime.offloop import in_thread


async def batches(count: int, size: int, read: list[int]):
    for n in range(count):
        read.append(n)
        await asyncio.sleep(0)
        yield [{"n": n * size + i} for i in range(size)]


async def test_the_work_sees_every_line_in_order_off_the_loop():
    read: list[int] = []
    loop_thread = threading.get_ident()
    ticks = 0

    def work(lines) -> list[int]:
        assert threading.get_ident() != loop_thread
        seen = []
        for line in lines:
            time.sleep(0.001)  # CPU-bound work, as counting tokens is
            seen.append(line["n"])
        return seen

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    running = asyncio.create_task(ticker())
    assert await in_thread(batches(20, 10, read), work) == list(range(200))
    running.cancel()
    assert read == list(range(20))
    assert ticks > 10  # the loop went on meanwhile


async def test_an_error_in_the_work_reaches_the_caller():
    def work(lines) -> None:
        next(iter(lines))
        raise ValueError("bad line")

    with pytest.raises(ValueError, match="bad line"):
        await in_thread(batches(5, 2, []), work)


async def test_a_cancelled_caller_stops_the_thread_at_the_next_batch():
    read: list[int] = []
    done = threading.Event()

    def work(lines) -> int:
        count = sum(1 for _ in lines if time.sleep(0.01) is None)
        done.set()
        return count

    task = asyncio.create_task(in_thread(batches(1000, 5, read), work))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(done.wait, 5)
    assert len(read) < 100  # not all 1,000 batches
