"""The answer queue takes teams in turn: one team's burst waits behind itself, not in front of
another team's next answer, and everything queued is still answered, each team in order."""

import asyncio

from bot.runtime.answer_queue import AnswerQueue


async def test_a_teams_burst_does_not_hold_back_another_teams_answer():
    queue = AnswerQueue(workers=1)
    given: list[str] = []

    def answer(name: str):
        async def give(waited: float) -> None:
            given.append(name)
            await asyncio.sleep(0)

        return give

    busy, quiet = queue.lane("busy"), queue.lane("quiet")
    for n in range(5):
        busy.submit(answer(f"busy-{n}"))
    quiet.submit(answer("quiet-0"))
    quiet.submit(answer("quiet-1"))
    await queue.join()
    # The busy team's first answer was already due; then the teams alternate.
    assert given[:4] == ["busy-0", "quiet-0", "busy-1", "quiet-1"]
    assert [name for name in given if name.startswith("busy")] == [f"busy-{n}" for n in range(5)]
    assert queue.waiting == 0 and queue.in_progress == 0


async def test_closing_still_gives_every_queued_answer():
    queue = AnswerQueue(workers=2)
    given: list[int] = []
    for n in range(7):
        queue.lane(f"team-{n % 3}").submit(lambda waited, n=n: _note(given, n))
    await queue.join()
    assert sorted(given) == list(range(7))


async def _note(given: list[int], n: int) -> None:
    given.append(n)
