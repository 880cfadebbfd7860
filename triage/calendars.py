"""Business-hours arithmetic on a weekly calendar in a given time zone.

A calendar opens on some hours of each weekday (local wall-clock time) and is closed on its
holidays. The functions here measure how much open time lies between two instants and find
the instant at which a given amount of open time has passed. Both work on aware datetimes,
so a day when daylight saving time starts or ends has as many open hours as its wall clock
shows: a 09:00-17:00 day is eight hours long on either side of a change, because changes
happen at night.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# A calendar with no open hour in this many days is treated as always closed, so that
# adding time to it raises instead of looping forever.
MAX_SEARCH_DAYS = 3660


@dataclass(frozen=True)
class OpeningWindow:
    """Open hours of one weekday: Monday is 0. An `ends` of 00:00 means midnight at the day's end."""

    weekday: int
    starts: time
    ends: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"Invalid weekday {self.weekday}: use 0 (Monday) to 6 (Sunday).")
        if self.ends != time(0) and self.ends <= self.starts:
            raise ValueError(
                f"Invalid window {self.starts:%H:%M}-{self.ends:%H:%M}: it must end after it starts."
            )


@dataclass(frozen=True)
class BusinessCalendar:
    zone: ZoneInfo
    windows: tuple[OpeningWindow, ...]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def open_intervals(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Yield the open stretches between `start` and `end`, clipped to them, in UTC."""
        _require_aware(start, end)
        if end <= start:
            return
        day = start.astimezone(self.zone).date()
        last_day = end.astimezone(self.zone).date()
        while day <= last_day:
            for opens, closes in self._day_windows(day):
                clipped_start, clipped_end = max(opens, start), min(closes, end)
                if clipped_start < clipped_end:
                    yield clipped_start, clipped_end
            day += timedelta(days=1)

    def open_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Return the open time between two instants; zero when `end` is not after `start`."""
        total = timedelta(0)
        for opens, closes in self.open_intervals(start, end):
            total += closes - opens
        return total

    def add_open_time(self, start: datetime, duration: timedelta) -> datetime:
        """Return the instant at which `duration` of open time has passed since `start`.

        A zero duration returns `start` itself, even when the calendar is closed then.
        """
        _require_aware(start)
        if duration < timedelta(0):
            raise ValueError(f"Invalid duration {duration}: it must not be negative.")
        if duration == timedelta(0):
            return start.astimezone(UTC)

        remaining = duration
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_SEARCH_DAYS):
            for opens, closes in self._day_windows(day):
                opens = max(opens, start.astimezone(UTC))
                if opens >= closes:
                    continue
                if closes - opens >= remaining:
                    return opens + remaining
                remaining -= closes - opens
            day += timedelta(days=1)
        raise ValueError(f"The calendar has no open hour in the {MAX_SEARCH_DAYS} days after {start.isoformat()}.")

    def _day_windows(self, day: date) -> list[tuple[datetime, datetime]]:
        if day in self.holidays:
            return []
        windows = []
        for window in self.windows:
            if window.weekday != day.weekday():
                continue
            opens = _local_instant(day, window.starts, self.zone)
            closes_day = day + timedelta(days=1) if window.ends == time(0) else day
            closes = _local_instant(closes_day, window.ends, self.zone)
            windows.append((opens, closes))
        return sorted(windows)


def always_open(zone: ZoneInfo) -> BusinessCalendar:
    """Return a calendar open around the clock, for ages counted in wall-clock time."""
    return BusinessCalendar(
        zone=zone, windows=tuple(OpeningWindow(weekday, time(0), time(0)) for weekday in range(7))
    )


def _local_instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of a wall-clock time on a local day.

    A wall-clock time that the spring change skips is read with the offset from before the
    change, so 02:30 on that night is 03:30 after the jump. One that the autumn change repeats
    is read as its first occurrence.
    """
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"Business-hours arithmetic needs aware datetimes; got {moment!r}.")
