"""The cost ledger: every job's estimate when it starts and its cost when it ends, by month.

The actual cost is what the provider reports it trained (OpenAI's `trained_tokens`) at the
price the estimate used; where nothing is reported the estimate stands for a job that trained,
and a job that failed or was cancelled before training costs nothing."""

from __future__ import annotations

from bot.clock import Clock
from storage.jobs import JobRecord
from storage.ledger import LedgerEntry, LedgerStore, month_of


class Ledger:
    def __init__(self, store: LedgerStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def opened(self, job: JobRecord) -> None:
        await self._store.record(
            LedgerEntry(
                job_id=job.id,
                provider=job.provider,
                base_model=job.base_model,
                started_by=job.started_by,
                estimate_usd=job.estimated_cost_usd,
                at=job.created_at,
            )
        )

    async def closed(self, job: JobRecord) -> None:
        entry = await self._store.find(job.id, month_of(job.created_at))
        if entry is None:  # started before the ledger, or under a pending id
            return
        entry.status = job.status
        entry.actual_usd = _actual_cost(job)
        await self._store.record(entry)

    async def spent(self, month: str | None = None) -> float:
        """What counts against this month's budget (or `month`'s)."""
        entries = await self._store.month(month or self.this_month())
        return sum(entry.cost_usd for entry in entries)

    def this_month(self) -> str:
        return month_of(self._clock.now())

    async def lines(self, months: int = 3) -> list[str]:
        """Each job of the last `months` months with a cost, and each month's total."""
        lines = []
        for month in (await self._store.months())[:months]:
            entries = await self._store.month(month)
            total = sum(entry.cost_usd for entry in entries)
            lines.append(f"{month}: ${total:,.2f} over {len(entries)} job(s)")
            for entry in entries:
                lines.append(f"  • {_entry_line(entry)}")
        return lines or ["No job has been started yet, so nothing was spent on training."]


def _actual_cost(job: JobRecord) -> float | None:
    """Tokens trained at the estimate's price; None when either is unknown."""
    if not job.trained_tokens or not job.billed_tokens or job.estimated_cost_usd is None:
        return None
    return round(job.trained_tokens * job.estimated_cost_usd / job.billed_tokens, 4)


def _entry_line(entry: LedgerEntry) -> str:
    estimate = "unknown" if entry.estimate_usd is None else f"${entry.estimate_usd:,.2f}"
    actual = "" if entry.actual_usd is None else f", actual ${entry.actual_usd:,.2f}"
    who = "the policy" if entry.started_by == "policy" else f"<@{entry.started_by}>"
    return (
        f"`{entry.job_id}` {entry.status} on {entry.base_model}, estimate {estimate}{actual}, "
        f"started by {who}"
    )
