"""A training schedule: `mon 09:00` (weekly) or `daily 09:00`, in UTC."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMAT = "`mon 09:00` (weekly, UTC) or `daily 09:00`"
_PATTERN = re.compile(r"(mon|tue|wed|thu|fri|sat|sun|daily)\s+(\d{1,2}):(\d{2})")


@dataclass(frozen=True)
class Schedule:
    day: int | None  # 0 is Monday; None: every day
    hour: int
    minute: int

    @classmethod
    def parse(cls, text: str) -> Schedule:
        found = _PATTERN.fullmatch(text.strip().lower())
        if found is None or int(found[2]) > 23 or int(found[3]) > 59:
            raise ValueError(f"`{text}` is not a schedule; write {FORMAT}.")
        day = None if found[1] == "daily" else DAYS.index(found[1])
        return cls(day, int(found[2]), int(found[3]))

    def last_slot(self, now: datetime) -> datetime:
        """The latest time the schedule named, at or before `now`."""
        slot = now.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if self.day is not None:
            slot -= timedelta(days=(slot.weekday() - self.day) % 7)
        if slot > now:
            slot -= timedelta(days=1 if self.day is None else 7)
        return slot

    def __str__(self) -> str:
        day = "daily" if self.day is None else f"weekly on {DAYS[self.day]}"
        return f"{day} at {self.hour:02d}:{self.minute:02d} UTC"

    @property
    def spec(self) -> str:
        """As it is written: `mon 09:00`."""
        return (
            f"{'daily' if self.day is None else DAYS[self.day]} {self.hour:02d}:{self.minute:02d}"
        )
