"""A training schedule names the latest slot at or before now, weekly or daily, in UTC."""

from datetime import UTC, datetime

import pytest

from bot.training.schedule import Schedule

MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("spec", "now", "slot"),
    [
        ("daily 09:00", MONDAY_10, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("daily 11:30", MONDAY_10, datetime(2026, 12, 6, 11, 30, tzinfo=UTC)),
        ("mon 09:00", MONDAY_10, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),
        ("mon 10:30", MONDAY_10, datetime(2026, 11, 30, 10, 30, tzinfo=UTC)),
        ("fri 17:00", MONDAY_10, datetime(2026, 12, 4, 17, 0, tzinfo=UTC)),
        ("Tue 9:05", MONDAY_10, datetime(2026, 12, 1, 9, 5, tzinfo=UTC)),
    ],
)
def test_the_last_slot_is_the_latest_named_time_at_or_before_now(spec, now, slot):
    assert Schedule.parse(spec).last_slot(now) == slot


@pytest.mark.parametrize("spec", ["someday", "mon", "mon 25:00", "mon 09:60", "weekly 09:00", ""])
def test_a_bad_schedule_names_the_format(spec):
    with pytest.raises(ValueError, match="is not a schedule; write `mon 09:00`"):
        Schedule.parse(spec)


def test_a_schedule_reads_back_as_written_and_in_words():
    schedule = Schedule.parse("  WED 7:05 ")
    assert (schedule.spec, str(schedule)) == ("wed 07:05", "weekly on wed at 07:05 UTC")
