"""Today's date, which the dates the bot acts on (shutdowns, migrations) are read against.

One object everything asks, so a test can move the day forward without touching the system.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


class Clock:
    def __init__(self, today: date | None = None) -> None:
        self._fixed = today

    def today(self) -> date:
        return self._fixed or datetime.now(UTC).date()

    def set_today(self, today: date | None) -> None:
        """Fix the day (None: follow the system's clock again)."""
        self._fixed = today
