"""Escalation replay: what a policy would have fired over recorded history, without writing."""

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import transaction

from backlog.models import BacklogEntry, Status
from tests.factories import ChannelFactory, EntryFactory
from triage.models import EntryPause, EscalationPolicy, SlaCalendar
from triage.services.replay import ReplayWriteError, read_only, replay_policy, sweep_after

pytestmark = pytest.mark.django_db

T1 = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)


@pytest.fixture(autouse=True)
def site_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.fixture
def policy(db):
    # Inactive on purpose: a replay tries a policy before it goes live.
    return EscalationPolicy.objects.create(
        name="Trial ladder", level1_minutes=60, level2_minutes=120, level3_minutes=180, active=False
    )


def replay(policy, *, end, start=T1, step=STEP, bucket="month"):
    return replay_policy(policy, BacklogEntry.objects.all(), start=start, end=end, step=step, bucket=bucket)


def row_counts() -> dict[str, int]:
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


@pytest.mark.parametrize(
    ("end", "fired"),
    [(T1 + timedelta(minutes=59), 0), (T1 + timedelta(minutes=60), 1)],
    ids=["window-ends-before-cutoff", "window-ends-at-cutoff"],
)
def test_replay_level1_boundary_pair(policy, end, fired):
    EntryFactory(detected_at=T1)

    outcome = replay(policy, end=end)

    assert outcome.fired.get(1, 0) == fired


@pytest.mark.parametrize(
    ("detected_offset", "fired_at"),
    [(timedelta(0), T1 + timedelta(minutes=60)), (timedelta(minutes=1), T1 + timedelta(minutes=90))],
    ids=["due-on-sweep", "due-one-minute-after-sweep"],
)
def test_replay_fires_at_next_sweep(policy, detected_offset, fired_at):
    EntryFactory(detected_at=T1 + detected_offset)

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.first_fired[1] == fired_at


def test_replay_pause_delays_levels(policy):
    entry = EntryFactory(detected_at=T1)
    EntryPause.objects.create(entry=entry, started_at=T1 + timedelta(minutes=10), ended_at=T1 + timedelta(minutes=40))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.first_fired[1] == T1 + timedelta(minutes=90)
    assert outcome.first_fired[2] == T1 + timedelta(minutes=150)


def test_replay_open_pause_stops_clock(policy):
    entry = EntryFactory(detected_at=T1, status=Status.ON_HOLD)
    EntryPause.objects.create(entry=entry, started_at=T1 + timedelta(minutes=10))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.fired == {}


@pytest.mark.parametrize(
    ("closed_offset", "fired"),
    [(timedelta(minutes=60), 0), (timedelta(minutes=61), 1)],
    ids=["closed-at-sweep", "closed-after-sweep"],
)
def test_replay_closed_entry_boundary_pair(policy, closed_offset, fired):
    EntryFactory(detected_at=T1, status=Status.CLOSED, closed_at=T1 + closed_offset)

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.fired.get(1, 0) == fired


def test_replay_entry_closed_before_cutoff_never_counts(policy):
    EntryFactory(detected_at=T1, status=Status.CLOSED, closed_at=T1 + timedelta(minutes=30))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.fired == {}
    assert outcome.closed_first == {1: 1, 2: 1}


def test_replay_skips_levels_due_before_window(policy):
    EntryFactory(detected_at=T1 - timedelta(minutes=90))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.fired == {2: 1}


def test_replay_ignores_entries_detected_after_window(policy):
    EntryFactory(detected_at=T1 + timedelta(days=2))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.entries == 0


def test_replay_level3_only_on_high_impact_channel(policy):
    EntryFactory(detected_at=T1)
    EntryFactory(detected_at=T1, channel=ChannelFactory(code="vip", high_impact=True))

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.fired == {1: 2, 2: 2, 3: 1}


def test_replay_respects_policy_channel(policy):
    vip = ChannelFactory(code="vip")
    policy.channel = vip
    policy.save()
    EntryFactory(detected_at=T1)
    EntryFactory(detected_at=T1, channel=vip)

    outcome = replay(policy, end=T1 + timedelta(days=1))

    assert outcome.entries == 1


def test_replay_counts_business_hours():
    calendar = SlaCalendar.objects.create(
        name="Office", opening_hours=[{"weekday": day, "starts": "09:00", "ends": "18:00"} for day in range(5)]
    )
    office = EscalationPolicy.objects.create(name="Office ladder", calendar=calendar, level1_minutes=480, level2_minutes=1440)
    # Friday 17:00 in Berlin: one open hour that day, seven more on Monday.
    EntryFactory(detected_at=datetime(2024, 3, 8, 16, 0, tzinfo=UTC))

    outcome = replay(office, start=datetime(2024, 3, 8, 0, 0, tzinfo=UTC), end=datetime(2024, 3, 20, tzinfo=UTC))

    assert outcome.first_fired[1] == datetime(2024, 3, 11, 15, 0, tzinfo=UTC)


def test_replay_histogram_by_week(policy):
    EntryFactory(detected_at=T1)
    EntryFactory(detected_at=T1 + timedelta(days=7))

    outcome = replay(policy, end=T1 + timedelta(days=14), bucket="week")

    assert {start.isoformat(): counts[1] for start, counts in outcome.histogram.items()} == {
        "2024-03-04": 1,
        "2024-03-11": 1,
    }


def test_sweep_after_rounds_up_to_step():
    assert sweep_after(T1 + timedelta(minutes=31), start=T1, step=STEP) == T1 + timedelta(minutes=60)
    assert sweep_after(T1, start=T1, step=STEP) == T1
    assert sweep_after(T1 - timedelta(seconds=1), start=T1, step=STEP) is None


def test_read_only_rejects_writes(policy):
    with transaction.atomic(), read_only(), pytest.raises(ReplayWriteError):
        EscalationPolicy.objects.filter(pk=policy.pk).update(level1_minutes=30)

    policy.refresh_from_db()
    assert policy.level1_minutes == 60


def test_replay_command_writes_nothing(policy):
    entry = EntryFactory(detected_at=T1)
    EntryPause.objects.create(entry=entry, started_at=T1 + timedelta(minutes=10), ended_at=T1 + timedelta(minutes=40))
    EntryFactory(detected_at=T1, status=Status.CLOSED, closed_at=T1 + timedelta(minutes=30))
    before = row_counts()
    output = StringIO()

    call_command(
        "escalation_replay", "--policy", "Trial ladder", "--from", "2024-03-04T09:00", "--to", "2024-03-05",
        "--step", "30m", stdout=output,
    )

    assert row_counts() == before
    assert entry.escalations.count() == 0
    assert "| 1 | 60 | 1 | 1 |" in output.getvalue()
    assert "| 2024-03 | 1 | 1 | 0 |" in output.getvalue()


def test_replay_command_rejects_unknown_policy(policy):
    with pytest.raises(CommandError, match="Policy 'Nope' not found. Stored policies: Trial ladder."):
        call_command("escalation_replay", "--policy", "Nope", "--from", "2024-03-04", "--to", "2024-03-05")


def test_replay_command_rejects_bad_step(policy):
    with pytest.raises(CommandError, match="Invalid step '0m'"):
        call_command("escalation_replay", "--policy", "Trial ladder", "--from", "2024-03-04", "--to", "2024-03-05", "--step", "0m")
