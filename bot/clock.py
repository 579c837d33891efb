"""Today's date and the time, which the dates the bot acts on (shutdowns, migrations, a
training schedule) are read against.

One object everything asks, so a test can move the day (or the hour) forward without touching
the system.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


class Clock:
    def __init__(self, today: date | None = None) -> None:
        self._fixed = today
        self._fixed_now: datetime | None = None

    def today(self) -> date:
        return self._fixed or self.now().date()

    def now(self) -> datetime:
        return self._fixed_now or datetime.now(UTC)

    def set_today(self, today: date | None) -> None:
        """Fix the day (None: follow the system's clock again)."""
        self._fixed = today

    def set_now(self, now: datetime | None) -> None:
        """Fix the time, and the day with it (None: follow the system's clock again)."""
        self._fixed_now = now
        self._fixed = now.date() if now else None
