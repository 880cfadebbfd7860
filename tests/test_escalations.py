"""The escalation ladder: clocks in wall-clock and business time, pauses, and the sweep."""

import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import BacklogType, Status, TimelineEvent
from backlog.services.entries import entry_set_status
from tests.factories import ChannelFactory, EntryFactory
from triage.models import Escalation, EscalationClock, EscalationPolicy, SlaCalendar
from triage.calendars import always_open
from triage.services.clock import clocks_refresh, due_at
from triage.services.escalations import escalation_sweep

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")
OFFICE_HOURS = [{"weekday": day, "starts": "09:00", "ends": "17:00"} for day in range(5)]


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


@pytest.fixture(autouse=True)
def site_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def office_policy(db):
    calendar = SlaCalendar.objects.create(name="Office hours", opening_hours=OFFICE_HOURS)
    return EscalationPolicy.objects.create(
        name="Business hours ladder", calendar=calendar, level1_minutes=240, level2_minutes=480, level3_minutes=960
    )


@pytest.fixture
def wall_clock_policy(db):
    return EscalationPolicy.objects.create(
        name="Wall-clock ladder", level1_minutes=24 * 60, level2_minutes=48 * 60, level3_minutes=72 * 60
    )


def levels_of(entry) -> list[int]:
    return sorted(Escalation.objects.filter(entry=entry).values_list("level", flat=True))


def test_first_escalation_waits_for_business_cutoff(office_policy):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 10, 10), backlog_type=BacklogType.PROCESSING)

    for hour, minute in [(10, 30), (11, 0), (14, 0)]:
        escalation_sweep(now=berlin(2026, 5, 4, hour, minute))
        assert levels_of(entry) == [], f"escalated at {hour}:{minute:02d}"

    escalation_sweep(now=berlin(2026, 5, 4, 14, 30))
    escalation_sweep(now=berlin(2026, 5, 4, 15, 0))

    assert levels_of(entry) == [1]
    entry.refresh_from_db()
    assert entry.escalation_level == 1
    assert entry.events.filter(kind=TimelineEvent.Kind.ESCALATED).count() == 1


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (berlin(2026, 5, 4, 14, 9, 59), []),
        (berlin(2026, 5, 4, 14, 10), [1]),
    ],
    ids=["just-inside", "at-cutoff"],
)
def test_business_cutoff_boundary_pair(office_policy, now, expected):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 10, 10))

    escalation_sweep(now=now)

    assert levels_of(entry) == expected


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (berlin(2026, 5, 5, 10, 9, 59), []),
        (berlin(2026, 5, 5, 10, 10), [1]),
    ],
    ids=["just-inside", "at-cutoff"],
)
def test_wall_clock_cutoff_boundary_pair(wall_clock_policy, now, expected):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 10, 10))

    escalation_sweep(now=now)

    assert levels_of(entry) == expected


def test_business_clock_skips_weekend(office_policy):
    # Friday 15:00 plus 4 business hours is Monday 11:00.
    entry = EntryFactory(detected_at=berlin(2026, 5, 8, 15))

    escalation_sweep(now=berlin(2026, 5, 11, 10, 59))
    before = levels_of(entry)
    escalation_sweep(now=berlin(2026, 5, 11, 11))

    assert before == []
    assert levels_of(entry) == [1]


def test_business_clock_skips_holiday(db):
    calendar = SlaCalendar.objects.create(name="With holiday", opening_hours=OFFICE_HOURS, holidays=["2026-05-11"])
    EscalationPolicy.objects.create(name="Holiday ladder", calendar=calendar, level1_minutes=240, level2_minutes=480)
    entry = EntryFactory(detected_at=berlin(2026, 5, 8, 15))

    escalation_sweep(now=berlin(2026, 5, 11, 16))
    before = levels_of(entry)
    escalation_sweep(now=berlin(2026, 5, 12, 11))

    assert before == []
    assert levels_of(entry) == [1]


@pytest.mark.parametrize(
    ("detected", "due"),
    [
        (berlin(2026, 3, 28, 12), datetime(2026, 3, 29, 11, tzinfo=UTC)),  # 24 real hours over the spring change
        (berlin(2026, 10, 24, 12), datetime(2026, 10, 25, 10, tzinfo=UTC)),  # and over the autumn change
    ],
    ids=["spring", "autumn"],
)
def test_wall_clock_counts_real_hours_across_dst(wall_clock_policy, detected, due):
    entry = EntryFactory(detected_at=detected)

    escalation_sweep(now=due - timedelta(seconds=1))
    before = levels_of(entry)
    escalation_sweep(now=due)

    assert before == []
    assert levels_of(entry) == [1]


@pytest.mark.parametrize(
    ("zone", "friday", "monday"),
    [
        ("Europe/Berlin", (2026, 3, 27), (2026, 3, 30)),
        ("America/New_York", (2026, 3, 6), (2026, 3, 9)),
        ("America/New_York", (2026, 10, 30), (2026, 11, 2)),
    ],
)
def test_business_clock_across_dst_weekend(settings, zone, friday, monday):
    settings.TIME_ZONE = zone
    calendar = SlaCalendar.objects.create(name=f"Office {zone}", opening_hours=OFFICE_HOURS)
    EscalationPolicy.objects.create(name=f"Ladder {zone}", calendar=calendar, level1_minutes=240, level2_minutes=480)
    local = ZoneInfo(zone)
    entry = EntryFactory(detected_at=datetime(*friday, 15, tzinfo=local))

    escalation_sweep(now=datetime(*monday, 10, 59, tzinfo=local))
    before = levels_of(entry)
    escalation_sweep(now=datetime(*monday, 11, tzinfo=local))

    assert before == []
    assert levels_of(entry) == [1]


def test_pause_stops_clock_and_survives_type_change(office_policy, lead):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 9), backlog_type=BacklogType.PROCESSING)
    EscalationPolicy.objects.create(
        name="Allocation ladder",
        backlog_type=BacklogType.ALLOCATION,
        calendar=office_policy.calendar,
        level1_minutes=240,
        level2_minutes=480,
    )

    entry = entry_set_status(entry_id=entry.pk, expected_version=1, status=Status.ON_HOLD, actor=lead, now=berlin(2026, 5, 4, 10))
    escalation_sweep(now=berlin(2026, 5, 4, 12, 59))
    entry = entry_set_status(entry_id=entry.pk, expected_version=entry.version, status=Status.OPEN, actor=lead, now=berlin(2026, 5, 4, 13))
    entry.backlog_type = BacklogType.ALLOCATION
    entry.save(update_fields=["backlog_type"])
    EscalationClock.objects.filter(entry=entry).delete()

    escalation_sweep(now=berlin(2026, 5, 4, 15, 59))
    before = levels_of(entry)
    escalation_sweep(now=berlin(2026, 5, 4, 16))

    assert before == []
    assert levels_of(entry) == [1]


def test_paused_entry_never_escalates(wall_clock_policy, lead):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 9))
    entry_set_status(entry_id=entry.pk, expected_version=1, status=Status.ON_HOLD, actor=lead, now=berlin(2026, 5, 4, 10))

    escalation_sweep(now=berlin(2026, 5, 20, 9))

    assert levels_of(entry) == []
    assert EscalationClock.objects.get(entry=entry).level1_due_at is None


def test_resolved_entry_never_escalates(wall_clock_policy, lead):
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 9))
    escalation_sweep(now=berlin(2026, 5, 4, 10))
    entry_set_status(entry_id=entry.pk, expected_version=1, status=Status.RESOLVED, actor=lead, now=berlin(2026, 5, 4, 14))

    escalation_sweep(now=berlin(2026, 5, 10, 9))

    assert levels_of(entry) == []


def test_level3_only_for_high_impact_channels(wall_clock_policy):
    marketplace = ChannelFactory(code="marketplace", name="Marketplace", high_impact=True)
    store = ChannelFactory(code="store", name="Store")
    loud = EntryFactory(channel=marketplace, detected_at=berlin(2026, 5, 1, 9))
    quiet = EntryFactory(channel=store, detected_at=berlin(2026, 5, 1, 9))

    escalation_sweep(now=berlin(2026, 5, 10, 9))

    assert levels_of(loud) == [1, 2, 3]
    assert levels_of(quiet) == [1, 2]


def test_sweep_twice_records_each_level_once(wall_clock_policy):
    entry = EntryFactory(detected_at=berlin(2026, 5, 1, 9))

    first = escalation_sweep(now=berlin(2026, 5, 10, 9))
    second = escalation_sweep(now=berlin(2026, 5, 10, 9))

    assert first.escalated == {1: 1, 2: 1, 3: 0}
    assert second.escalated == {1: 0, 2: 0, 3: 0}
    assert levels_of(entry) == [1, 2]
    assert entry.events.filter(kind=TimelineEvent.Kind.ESCALATED).count() == 2


def test_no_policy_means_no_escalation(db):
    entry = EntryFactory(detected_at=berlin(2026, 1, 1, 9))

    escalation_sweep(now=berlin(2026, 5, 10, 9))

    assert levels_of(entry) == []


def test_most_specific_policy_applies(wall_clock_policy):
    web = ChannelFactory(code="web", name="Web shop")
    EscalationPolicy.objects.create(
        name="Web processing", backlog_type=BacklogType.PROCESSING, channel=web, level1_minutes=60, level2_minutes=120
    )
    entry = EntryFactory(channel=web, backlog_type=BacklogType.PROCESSING, detected_at=berlin(2026, 5, 4, 9))

    escalation_sweep(now=berlin(2026, 5, 4, 10))

    assert levels_of(entry) == [1]


def test_sweep_query_count_constant(wall_clock_policy, django_assert_max_num_queries):
    EntryFactory.create_batch(3, detected_at=berlin(2026, 5, 1, 9))
    escalation_sweep(now=berlin(2026, 5, 1, 10))
    with CaptureQueriesContext(connection) as small:
        escalation_sweep(now=berlin(2026, 5, 10, 9))

    EntryFactory.create_batch(60, detected_at=berlin(2026, 5, 1, 9))
    escalation_sweep(now=berlin(2026, 5, 1, 10))
    with CaptureQueriesContext(connection) as large:
        escalation_sweep(now=berlin(2026, 5, 10, 9))

    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"level1_minutes": 0, "level2_minutes": 10}, "must be positive"),
        ({"level1_minutes": 60, "level2_minutes": 60}, "later than level 1"),
        ({"level1_minutes": 60, "level2_minutes": 120, "level3_minutes": 90}, "later than level 2"),
        ({"level1_minutes": 60, "level2_minutes": 120, "warning_minutes": 60}, "before the level 1 cutoff"),
    ],
)
def test_policy_validation_names_problem(fields, message):
    policy = EscalationPolicy(name="Bad", **fields)

    with pytest.raises(ValidationError, match=message):
        policy.full_clean()


def test_calendar_validation_names_problem():
    calendar = SlaCalendar(name="Broken", opening_hours=[{"weekday": 0, "starts": "17:00", "ends": "09:00"}])

    with pytest.raises(ValidationError, match="must end after it starts"):
        calendar.full_clean()


def test_clock_warning_before_next_cutoff(db):
    EscalationPolicy.objects.create(name="Warned", level1_minutes=240, level2_minutes=480, warning_minutes=60)
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 9))

    clocks_refresh([entry], now=berlin(2026, 5, 4, 9))

    clock = EscalationClock.objects.get(entry=entry)
    assert clock.warning_at == berlin(2026, 5, 4, 12)
    assert clock.level1_due_at == berlin(2026, 5, 4, 13)


@pytest.mark.django_db(transaction=True)
def test_two_workers_sweep_once(uses_postgres, wall_clock_policy):
    entries = EntryFactory.create_batch(20, detected_at=berlin(2026, 5, 1, 9))
    escalation_sweep(now=berlin(2026, 5, 1, 10))
    barrier = threading.Barrier(2)
    errors = []

    def sweep() -> None:
        try:
            barrier.wait()
            escalation_sweep(now=berlin(2026, 5, 10, 9))
        except Exception as error:  # noqa: BLE001 - reported through the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert Escalation.objects.count() == 2 * len(entries)
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.ESCALATED).count() == 2 * len(entries)


def test_long_pause_just_before_cutoff_settles(wall_clock_policy):
    detected = berlin(2026, 5, 4, 9)
    pauses = [(berlin(2026, 5, 5, 8, 59), berlin(2026, 6, 30, 9))]

    due = due_at(always_open(BERLIN), detected_at=detected, pauses=pauses, cutoff=timedelta(hours=24))

    assert due == berlin(2026, 6, 30, 9, 1)


def test_overlapping_pauses_count_once(wall_clock_policy):
    detected = berlin(2026, 5, 4, 9)
    pauses = [(berlin(2026, 5, 4, 10), berlin(2026, 5, 4, 14)), (berlin(2026, 5, 4, 12), berlin(2026, 5, 4, 15))]

    due = due_at(always_open(BERLIN), detected_at=detected, pauses=pauses, cutoff=timedelta(hours=4))

    # One hour before the pauses, five paused hours, then three more hours.
    assert due == berlin(2026, 5, 4, 18)


def test_warning_moves_to_next_level_after_escalation(db):
    EscalationPolicy.objects.create(name="Warned ladder", level1_minutes=240, level2_minutes=480, warning_minutes=60)
    entry = EntryFactory(detected_at=berlin(2026, 5, 4, 9))

    escalation_sweep(now=berlin(2026, 5, 4, 13))
    escalation_sweep(now=berlin(2026, 5, 4, 13, 5))

    clock = EscalationClock.objects.get(entry=entry)
    assert levels_of(entry) == [1]
    assert clock.warning_at == berlin(2026, 5, 4, 16)


def test_unusable_policy_does_not_stop_sweep(db):
    web = ChannelFactory(code="web", name="Web shop")
    store = ChannelFactory(code="store", name="Store")
    EscalationPolicy.objects.create(name="Broken", channel=store, level1_minutes=60, level2_minutes=120)
    SlaCalendar.objects.filter().delete()
    closed = SlaCalendar.objects.create(name="Never open", opening_hours=[])
    EscalationPolicy.objects.filter(name="Broken").update(calendar=closed)
    EscalationPolicy.objects.create(name="Web ladder", channel=web, level1_minutes=60, level2_minutes=120)
    broken_entry = EntryFactory(channel=store, detected_at=berlin(2026, 5, 4, 9))
    fine_entry = EntryFactory(channel=web, detected_at=berlin(2026, 5, 4, 9))

    escalation_sweep(now=berlin(2026, 5, 4, 12))

    assert levels_of(fine_entry) == [1, 2]
    assert levels_of(broken_entry) == []


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ([{"weekday": 0, "start": "09:00", "end": "18:00"}], "exactly the keys weekday, starts and ends"),
        ({"weekday": 0}, "must be a list of windows"),
        ([{"weekday": "Monday", "starts": "09:00", "ends": "18:00"}], "weekday must be a number"),
        ([{"weekday": 0, "starts": "25:00", "ends": "18:00"}], "starts must be a time"),
        (
            [{"weekday": 0, "starts": "09:00", "ends": "18:00"}, {"weekday": 0, "starts": "10:00", "ends": "12:00"}],
            "overlap",
        ),
    ],
)
def test_calendar_errors_are_actionable(hours, message):
    calendar = SlaCalendar(name="Typo", opening_hours=hours)

    with pytest.raises(ValidationError, match=message):
        calendar.full_clean()


def test_calendar_accepts_end_of_day():
    calendar = SlaCalendar(name="Late", opening_hours=[{"weekday": 0, "starts": "18:00", "ends": "24:00"}])

    calendar.full_clean()


def test_policy_rejects_cutoff_over_a_year():
    policy = EscalationPolicy(name="Huge", level1_minutes=60, level2_minutes=120, level3_minutes=10**12)

    with pytest.raises(ValidationError, match="one year"):
        policy.full_clean()
