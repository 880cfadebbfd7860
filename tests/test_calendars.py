"""Business-hours arithmetic: weekends, holidays, daylight saving time, boundaries."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from triage.calendars import BusinessCalendar, OpeningWindow, always_open

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def office_hours(zone: ZoneInfo, holidays: frozenset[date] = frozenset()) -> BusinessCalendar:
    """Monday to Friday, 09:00-17:00 local."""
    windows = tuple(OpeningWindow(weekday, time(9), time(17)) for weekday in range(5))
    return BusinessCalendar(zone=zone, windows=windows, holidays=holidays)


def local(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


def test_open_time_within_one_day():
    calendar = office_hours(BERLIN)

    elapsed = calendar.open_time_between(local(BERLIN, 2026, 5, 4, 10, 10), local(BERLIN, 2026, 5, 4, 14, 10))

    assert elapsed == timedelta(hours=4)


def test_open_time_ignores_night_and_weekend():
    calendar = office_hours(BERLIN)

    # Friday 16:00 to Monday 10:00: one hour on Friday, one on Monday.
    elapsed = calendar.open_time_between(local(BERLIN, 2026, 5, 8, 16), local(BERLIN, 2026, 5, 11, 10))

    assert elapsed == timedelta(hours=2)


def test_open_time_skips_holiday():
    calendar = office_hours(BERLIN, holidays=frozenset({date(2026, 5, 14)}))

    # Wednesday 16:00 to Friday 10:00 across the Thursday holiday.
    elapsed = calendar.open_time_between(local(BERLIN, 2026, 5, 13, 16), local(BERLIN, 2026, 5, 15, 10))

    assert elapsed == timedelta(hours=2)


@pytest.mark.parametrize(
    ("added", "expected"),
    [
        (timedelta(hours=3, minutes=59), local(BERLIN, 2026, 5, 4, 14, 9)),
        (timedelta(hours=4), local(BERLIN, 2026, 5, 4, 14, 10)),
        (timedelta(hours=7), local(BERLIN, 2026, 5, 5, 9, 10)),
    ],
    ids=["just-inside", "exactly", "next-morning"],
)
def test_add_open_time_boundaries(added, expected):
    calendar = office_hours(BERLIN)

    due = calendar.add_open_time(local(BERLIN, 2026, 5, 4, 10, 10), added)

    assert due == expected


def test_add_open_time_from_closed_moment_starts_at_opening():
    calendar = office_hours(BERLIN)

    # Saturday evening plus one open hour is Monday 10:00.
    due = calendar.add_open_time(local(BERLIN, 2026, 5, 9, 20), timedelta(hours=1))

    assert due == local(BERLIN, 2026, 5, 11, 10)


def test_add_open_time_crosses_weekend_and_holiday():
    calendar = office_hours(BERLIN, holidays=frozenset({date(2026, 5, 25)}))

    # Friday 15:00 plus 4 h: 2 h on Friday, Monday is a holiday, 2 h on Tuesday.
    due = calendar.add_open_time(local(BERLIN, 2026, 5, 22, 15), timedelta(hours=4))

    assert due == local(BERLIN, 2026, 5, 26, 11)


@pytest.mark.parametrize(
    ("zone", "day"),
    [
        (BERLIN, date(2026, 3, 30)),  # Monday after DST starts on Sunday 29 March
        (BERLIN, date(2026, 10, 26)),  # Monday after DST ends on Sunday 25 October
        (NEW_YORK, date(2026, 3, 9)),  # Monday after DST starts on Sunday 8 March
        (NEW_YORK, date(2026, 11, 2)),  # Monday after DST ends on Sunday 1 November
    ],
)
def test_office_day_after_dst_change_has_eight_hours(zone, day):
    calendar = office_hours(zone)
    friday_noon = datetime.combine(day - timedelta(days=3), time(12), tzinfo=zone)

    elapsed = calendar.open_time_between(friday_noon, datetime.combine(day, time(12), tzinfo=zone))
    due = calendar.add_open_time(friday_noon, timedelta(hours=8))

    assert elapsed == timedelta(hours=8)
    assert due == datetime.combine(day, time(12), tzinfo=zone)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        (local(BERLIN, 2026, 3, 29, 0), local(BERLIN, 2026, 3, 30, 0), 23),
        (local(BERLIN, 2026, 10, 25, 0), local(BERLIN, 2026, 10, 26, 0), 25),
    ],
    ids=["spring-day", "autumn-day"],
)
def test_always_open_counts_real_hours_on_dst_days(start, end, hours):
    calendar = always_open(BERLIN)

    assert calendar.open_time_between(start, end) == timedelta(hours=hours)
    assert calendar.add_open_time(start, timedelta(hours=hours)) == end.astimezone(UTC)


def test_night_window_across_midnight():
    windows = (OpeningWindow(4, time(22), time(0)), OpeningWindow(5, time(0), time(6)))
    calendar = BusinessCalendar(zone=BERLIN, windows=windows)

    elapsed = calendar.open_time_between(local(BERLIN, 2026, 5, 8, 21), local(BERLIN, 2026, 5, 9, 12))

    assert elapsed == timedelta(hours=8)


def test_end_before_start_is_zero():
    calendar = office_hours(BERLIN)

    assert calendar.open_time_between(local(BERLIN, 2026, 5, 4, 12), local(BERLIN, 2026, 5, 4, 11)) == timedelta(0)


def test_naive_datetime_is_rejected():
    with pytest.raises(ValueError, match="aware"):
        office_hours(BERLIN).open_time_between(datetime(2026, 5, 4, 9), local(BERLIN, 2026, 5, 4, 17))


def test_calendar_without_hours_raises_on_add():
    calendar = BusinessCalendar(zone=BERLIN, windows=())

    with pytest.raises(ValueError, match="no open hour"):
        calendar.add_open_time(local(BERLIN, 2026, 5, 4, 9), timedelta(hours=1))


def test_window_must_end_after_start():
    with pytest.raises(ValueError, match="must end after"):
        OpeningWindow(0, time(17), time(9))
