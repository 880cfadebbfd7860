"""Triage slots start at :00 and :30 on the site's clock, across DST changes and odd offsets."""

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from triage.services.slots import local_time_of, next_slot_start, slot_start_for

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
KATHMANDU = ZoneInfo("Asia/Kathmandu")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def slots_between(first: datetime, last: datetime) -> list[datetime]:
    """Return the starts of every slot from the one containing `first` to the one containing `last`."""
    slots = [slot_start_for(first)]
    while slots[-1] + timedelta(minutes=30) <= last:
        slots.append(next_slot_start(slots[-1]))
    return slots


@pytest.fixture
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def new_york(settings):
    settings.TIME_ZONE = "America/New_York"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2026, 1, 12, 9, 0), utc(2026, 1, 12, 9, 0)),
        (utc(2026, 1, 12, 9, 29, 59, 999999), utc(2026, 1, 12, 9, 0)),
        (utc(2026, 1, 12, 9, 30), utc(2026, 1, 12, 9, 30)),
        (utc(2026, 1, 12, 9, 59), utc(2026, 1, 12, 9, 30)),
    ],
)
def test_slot_start_floors_to_half_hour(berlin, moment, expected):
    assert slot_start_for(moment) == expected


def test_slot_start_is_utc(berlin):
    start = slot_start_for(datetime(2026, 7, 1, 14, 47, tzinfo=BERLIN))

    assert start.utcoffset() == timedelta(0)
    assert start == utc(2026, 7, 1, 12, 30)


def test_slot_start_rejects_naive_datetime(berlin):
    with pytest.raises(ValueError, match="aware datetime"):
        slot_start_for(datetime(2026, 1, 12, 9, 0))


def test_slot_start_reads_zone_from_settings(settings):
    moment = utc(2026, 1, 12, 6, 20)

    settings.TIME_ZONE = "Europe/Berlin"
    berlin_start = slot_start_for(moment)
    settings.TIME_ZONE = "Asia/Kathmandu"
    kathmandu_start = slot_start_for(moment)

    assert berlin_start == utc(2026, 1, 12, 6, 0)
    assert kathmandu_start == utc(2026, 1, 12, 6, 15)


def test_berlin_spring_forward_skips_missing_hour(berlin):
    # 2026-03-29: at 01:00 UTC the clocks jump from 02:00 CET to 03:00 CEST.
    before_jump = slot_start_for(utc(2026, 3, 29, 0, 59))
    after_jump = slot_start_for(utc(2026, 3, 29, 1, 0))

    assert before_jump == utc(2026, 3, 29, 0, 30)
    assert before_jump.astimezone(BERLIN).strftime("%H:%M %Z") == "01:30 CET"
    assert after_jump == utc(2026, 3, 29, 1, 0)
    assert after_jump.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert next_slot_start(before_jump) == after_jump


def test_berlin_fall_back_repeated_hour_two_slots(berlin):
    # 2026-10-25: at 01:00 UTC the clocks go back from 03:00 CEST to 02:00 CET.
    first = slot_start_for(utc(2026, 10, 25, 0, 45))
    second = slot_start_for(utc(2026, 10, 25, 1, 45))

    assert first == utc(2026, 10, 25, 0, 30)
    assert second == utc(2026, 10, 25, 1, 30)
    assert first.astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"
    assert second.astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CET"
    assert second - first == timedelta(hours=1)


def test_berlin_fall_back_night_has_half_hour_steps(berlin):
    slots = slots_between(utc(2026, 10, 24, 23, 0), utc(2026, 10, 25, 2, 0))

    assert len(slots) == 7
    assert len(set(slots)) == 7
    assert all(later - earlier == timedelta(minutes=30) for earlier, later in pairwise(slots))
    local_labels = [slot.astimezone(BERLIN).strftime("%H:%M") for slot in slots]
    assert local_labels == ["01:00", "01:30", "02:00", "02:30", "02:00", "02:30", "03:00"]


def test_berlin_spring_forward_night_has_half_hour_steps(berlin):
    slots = slots_between(utc(2026, 3, 28, 23, 0), utc(2026, 3, 29, 2, 0))

    assert all(later - earlier == timedelta(minutes=30) for earlier, later in pairwise(slots))
    local_labels = [slot.astimezone(BERLIN).strftime("%H:%M") for slot in slots]
    assert local_labels == ["00:00", "00:30", "01:00", "01:30", "03:00", "03:30", "04:00"]


def test_new_york_spring_forward(new_york):
    # 2026-03-08: at 07:00 UTC the clocks jump from 02:00 EST to 03:00 EDT.
    before_jump = slot_start_for(utc(2026, 3, 8, 6, 59))
    after_jump = slot_start_for(utc(2026, 3, 8, 7, 10))

    assert before_jump.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EST"
    assert after_jump.astimezone(NEW_YORK).strftime("%H:%M %Z") == "03:00 EDT"
    assert after_jump - before_jump == timedelta(minutes=30)


def test_new_york_fall_back_repeated_hour(new_york):
    # 2026-11-01: at 06:00 UTC the clocks go back from 02:00 EDT to 01:00 EST.
    first = slot_start_for(utc(2026, 11, 1, 5, 40))
    second = slot_start_for(utc(2026, 11, 1, 6, 40))

    assert first == utc(2026, 11, 1, 5, 30)
    assert second == utc(2026, 11, 1, 6, 30)
    assert first.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EDT"
    assert second.astimezone(NEW_YORK).strftime("%H:%M %Z") == "01:30 EST"


@pytest.mark.parametrize("minute", [0, 14, 15, 16, 29, 30, 44, 45, 46, 59])
def test_kathmandu_slots_start_on_local_half_hour(settings, minute):
    # Kathmandu is UTC+05:45, so local :00 and :30 are :15 and :45 in UTC.
    settings.TIME_ZONE = "Asia/Kathmandu"

    start = slot_start_for(utc(2026, 5, 4, 6, minute))
    local = start.astimezone(KATHMANDU)

    assert local.minute in (0, 30)
    assert local.second == 0
    assert start.minute in (15, 45)
    assert start <= utc(2026, 5, 4, 6, minute) < start + timedelta(minutes=30)


def test_slot_start_accepts_explicit_zone(berlin):
    start = slot_start_for(utc(2026, 5, 4, 6, 20), zone=KATHMANDU)

    assert start == utc(2026, 5, 4, 6, 15)


def test_local_time_of_uses_site_zone(berlin):
    assert local_time_of(utc(2026, 7, 1, 4, 0)).strftime("%H:%M") == "06:00"
    assert local_time_of(utc(2026, 1, 1, 4, 0)).strftime("%H:%M") == "05:00"
