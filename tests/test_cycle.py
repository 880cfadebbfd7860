"""The 30-minute triage cycle: which entries it queues, once per slot, and nothing half-written."""

import logging
import signal
import subprocess
import sys
import threading
from datetime import UTC, datetime, time, timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backlog.models import BacklogType, Stage, Status, TimelineEvent
from tests.factories import EntryFactory, ShiftFactory, UserFactory, resolution_method
from triage.models import CycleItem, TriageCycle
from triage.services import cycles
from triage.services.cycles import cycle_run

pytest_plugins = ["tests.fixtures_infra"]
pytestmark = pytest.mark.django_db

# Runs a cycle in a child process that stalls after writing its items, until it is killed.
STALLING_WORKER = """
import sys, time
from datetime import datetime

import django

django.setup()
from triage.services import cycles


def stall(events):
    print("stalled", flush=True)
    time.sleep(120)


cycles.events_record_bulk = stall
cycles.cycle_run(now=datetime.fromisoformat(sys.argv[1]))
"""

# 11:10 in Berlin (CEST), inside the slot that starts at 09:00 UTC.
NOW = datetime(2026, 6, 10, 9, 10, tzinfo=UTC)
SLOT_START = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def entry_aged(hours: float, **fields):
    """Create an entry detected `hours` before NOW."""
    detected_at = NOW - timedelta(hours=hours)
    return EntryFactory(ordered_at=detected_at, detected_at=detected_at, **fields)


def decided_entry(hours: float, **fields):
    """Create an entry with an owner, a method and an ETA tomorrow, so it needs no triage."""
    defaults = {
        "owner": UserFactory(),
        "resolution_method": resolution_method("expedite"),
        "due_at": NOW + timedelta(days=1),
    }
    return entry_aged(hours, **{**defaults, **fields})


def queued_ids(cycle_id: int) -> list[int]:
    return list(CycleItem.objects.filter(cycle_id=cycle_id).order_by("position").values_list("entry_id", flat=True))


def test_cycle_queues_entries_lacking_owner_method_or_eta():
    # given
    no_owner = decided_entry(10, owner=None)
    no_method = decided_entry(9, resolution_method=None)
    no_eta = decided_entry(8, due_at=None)
    eta_passed = decided_entry(7, due_at=NOW - timedelta(minutes=1))
    decided = decided_entry(11)

    # when
    outcome = cycle_run(now=NOW)

    # then
    assert outcome.ran
    assert outcome.queued == 4
    assert queued_ids(outcome.cycle_id) == [no_owner.pk, no_method.pk, no_eta.pk, eta_passed.pk]
    assert decided.pk not in queued_ids(outcome.cycle_id)
    reasons = dict(CycleItem.objects.values_list("entry_id", "reasons"))
    assert reasons[no_owner.pk] == ["unowned"]
    assert reasons[no_method.pk] == ["no_method"]
    assert reasons[no_eta.pk] == ["no_eta"]
    assert reasons[eta_passed.pk] == ["eta_passed"]


def test_cycle_lists_every_reason_of_untriaged_entry():
    entry = entry_aged(5)

    outcome = cycle_run(now=NOW)

    item = CycleItem.objects.get(cycle_id=outcome.cycle_id, entry=entry)
    assert item.reasons == ["unowned", "no_method", "no_eta"]


def test_cycle_eta_exactly_now_has_not_passed():
    due_now = decided_entry(6, due_at=NOW)
    due_just_before = decided_entry(5, due_at=NOW - timedelta(seconds=1))

    outcome = cycle_run(now=NOW)

    assert queued_ids(outcome.cycle_id) == [due_just_before.pk]
    assert due_now.pk not in queued_ids(outcome.cycle_id)


def test_cycle_queues_oldest_first_up_to_batch_size():
    newest = entry_aged(1)
    oldest = entry_aged(50)
    middle = entry_aged(20)
    second = entry_aged(30)

    outcome = cycle_run(now=NOW, batch_size=3)

    assert outcome.queued == 3
    assert queued_ids(outcome.cycle_id) == [oldest.pk, second.pk, middle.pk]
    assert newest.pk not in queued_ids(outcome.cycle_id)
    assert TriageCycle.objects.get(pk=outcome.cycle_id).batch_size == 3


def test_cycle_batch_size_defaults_to_setting(settings):
    settings.TRIAGE_CYCLE_BATCH_SIZE = 2
    for hours in (3, 2, 1):
        entry_aged(hours)

    outcome = cycle_run(now=NOW)

    assert outcome.queued == 2
    assert TriageCycle.objects.get(pk=outcome.cycle_id).batch_size == 2


def test_cycle_ties_on_age_are_broken_by_id():
    first = entry_aged(4)
    second = entry_aged(4)

    outcome = cycle_run(now=NOW, batch_size=1)

    assert queued_ids(outcome.cycle_id) == [min(first.pk, second.pk)]


def test_cycle_never_queues_closed_or_resolved_entries():
    closed = entry_aged(30, status=Status.CLOSED, closed_at=NOW - timedelta(hours=1))
    resolved = entry_aged(29, status=Status.RESOLVED, closed_at=NOW - timedelta(hours=1))
    on_hold = entry_aged(28, status=Status.ON_HOLD)
    open_entry = entry_aged(27)

    outcome = cycle_run(now=NOW)

    assert queued_ids(outcome.cycle_id) == [on_hold.pk, open_entry.pk]
    assert closed.pk not in queued_ids(outcome.cycle_id)
    assert resolved.pk not in queued_ids(outcome.cycle_id)


def test_cycle_ignores_entries_detected_after_now():
    # A replay at an earlier `now` must not see entries that did not exist yet.
    past = entry_aged(2)
    entry_aged(-1)

    outcome = cycle_run(now=NOW)

    assert queued_ids(outcome.cycle_id) == [past.pk]


def test_cycle_with_nothing_to_triage_still_records_cycle():
    decided_entry(3)

    outcome = cycle_run(now=NOW)

    assert outcome.ran
    assert outcome.queued == 0
    cycle = TriageCycle.objects.get()
    assert cycle.status == TriageCycle.Status.DONE
    assert cycle.items.count() == 0


def test_cycle_rerun_in_same_slot_does_nothing():
    entry_aged(3)
    entry_aged(2)
    first = cycle_run(now=NOW)
    events_after_first = TimelineEvent.objects.count()

    second = cycle_run(now=NOW + timedelta(minutes=15))

    assert first.ran
    assert not second.ran
    assert second.slot_start == first.slot_start == SLOT_START
    assert second.queued == 0
    assert TriageCycle.objects.count() == 1
    assert CycleItem.objects.count() == 2
    assert TimelineEvent.objects.count() == events_after_first


def test_cycle_next_slot_runs_again():
    entry_aged(3)
    first = cycle_run(now=NOW)

    second = cycle_run(now=NOW + timedelta(minutes=20))

    assert second.ran
    assert second.slot_start == SLOT_START + timedelta(minutes=30)
    assert TriageCycle.objects.count() == 2
    assert first.cycle_id != second.cycle_id


def test_cycle_records_slot_and_times():
    outcome = cycle_run(now=NOW)

    cycle = TriageCycle.objects.get(pk=outcome.cycle_id)
    assert cycle.slot_start == SLOT_START
    assert cycle.started_at == NOW
    assert cycle.finished_at == NOW
    assert cycle.status == TriageCycle.Status.DONE


def test_cycle_records_pair_on_duty():
    # given: 11:10 in Berlin falls in the early shift
    lead = UserFactory(username="lead-on-duty")
    support = UserFactory(username="support-on-duty")
    early = ShiftFactory(name="Early", starts_at=time(6), ends_at=time(14), lead=lead, support=support)
    ShiftFactory(name="Late", starts_at=time(14), ends_at=time(22), lead=UserFactory(), support=UserFactory())

    # when
    outcome = cycle_run(now=NOW)

    # then
    cycle = TriageCycle.objects.get(pk=outcome.cycle_id)
    assert cycle.shift == early
    assert cycle.lead == lead
    assert cycle.support == support
    assert not cycle.nobody_on_duty


def test_cycle_finds_shift_running_past_midnight():
    night = ShiftFactory(name="Night", starts_at=time(22), ends_at=time(6), lead=UserFactory(), support=UserFactory())

    # 03:10 in Berlin
    outcome = cycle_run(now=datetime(2026, 6, 10, 1, 10, tzinfo=UTC))

    assert TriageCycle.objects.get(pk=outcome.cycle_id).shift == night


def test_cycle_shift_end_belongs_to_next_shift():
    ShiftFactory(name="Early", starts_at=time(6), ends_at=time(14), lead=UserFactory(), support=UserFactory())
    late = ShiftFactory(name="Late", starts_at=time(14), ends_at=time(22), lead=UserFactory(), support=UserFactory())

    # 14:00 in Berlin
    outcome = cycle_run(now=datetime(2026, 6, 10, 12, 0, tzinfo=UTC))

    assert TriageCycle.objects.get(pk=outcome.cycle_id).shift == late


def test_cycle_runs_with_nobody_on_duty(caplog):
    # given: the only shift ends before the slot
    ShiftFactory(name="Early", starts_at=time(6), ends_at=time(11), lead=UserFactory(), support=UserFactory())
    entry = entry_aged(3)

    # when
    with caplog.at_level(logging.WARNING, logger="triage.services.cycles"):
        outcome = cycle_run(now=NOW)

    # then
    cycle = TriageCycle.objects.get(pk=outcome.cycle_id)
    assert outcome.ran
    assert cycle.shift is None
    assert cycle.lead is None
    assert cycle.support is None
    assert cycle.nobody_on_duty
    assert queued_ids(cycle.pk) == [entry.pk]
    assert "Triage cycle for slot 2026-06-10T09:00:00+00:00 ran with nobody on duty." in caplog.messages


def test_cycle_writes_triaged_event_per_queued_entry():
    queued = [entry_aged(hours) for hours in (6, 5, 4)]
    skipped = decided_entry(7)

    outcome = cycle_run(now=NOW)

    events = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TRIAGED)
    assert events.count() == outcome.queued == 3
    assert sorted(events.values_list("entry_id", flat=True)) == sorted(entry.pk for entry in queued)
    assert not events.filter(entry=skipped).exists()
    event = events.get(entry=queued[0])
    assert event.at == NOW
    assert event.actor is None
    assert event.changes == {"cycle": {"old": None, "new": SLOT_START.isoformat()}}
    assert event.reason == "Queued for triage: no owner, no resolution method, no ETA"


def test_cycle_reclassifies_queued_entries():
    # The hand-over limit passed an hour ago, so the processing signal fires now.
    entry = entry_aged(
        30,
        stage=Stage.AWAITING_HANDOVER,
        approved_at=NOW - timedelta(hours=29),
        handover_due_at=NOW - timedelta(hours=1),
    )

    cycle_run(now=NOW)

    entry.refresh_from_db()
    assert entry.backlog_type == BacklogType.PROCESSING
    assert entry.classified_at == NOW


def test_cycle_failure_midway_leaves_nothing_behind():
    # given: the timeline write fails after the cycle row and its items were inserted
    entries = [entry_aged(hours) for hours in (3, 2)]
    with mock.patch.object(cycles, "events_record_bulk", side_effect=RuntimeError("worker lost")):
        # when
        with pytest.raises(RuntimeError, match="worker lost"):
            cycle_run(now=NOW)

    # then
    assert TriageCycle.objects.count() == 0
    assert CycleItem.objects.count() == 0
    assert not TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TRIAGED).exists()
    for entry in entries:
        entry.refresh_from_db()
        assert entry.classified_at is None


def test_cycle_retry_after_failure_runs_clean():
    entry_aged(3)
    entry_aged(2)
    with mock.patch.object(cycles, "events_record_bulk", side_effect=RuntimeError("worker lost")):
        with pytest.raises(RuntimeError):
            cycle_run(now=NOW)

    retry = cycle_run(now=NOW)

    assert retry.ran
    assert retry.queued == 2
    assert TriageCycle.objects.count() == 1
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TRIAGED).count() == 2


def test_cycle_query_count_does_not_grow_with_queue():
    for hours in range(1, 4):
        entry_aged(hours)
    with CaptureQueriesContext(connection) as small:
        cycle_run(now=NOW)

    for hours in range(4, 24):
        entry_aged(hours)
    with CaptureQueriesContext(connection) as large:
        cycle_run(now=NOW + timedelta(minutes=30))

    assert len(large.captured_queries) == len(small.captured_queries)


@pytest.mark.django_db(transaction=True)
def test_cycle_two_workers_same_slot_run_once(uses_postgres):
    # given: both workers pass the "already ran?" check before either inserts its cycle
    entries = [entry_aged(hours) for hours in (5, 4, 3)]
    workers = 2
    barrier = threading.Barrier(workers, timeout=10)
    real_shift_on_duty = cycles.shift_on_duty

    def shift_on_duty_after_barrier(moment):
        barrier.wait()
        return real_shift_on_duty(moment)

    outcomes = []
    errors = []

    def run_worker():
        try:
            outcomes.append(cycle_run(now=NOW))
        except Exception as error:  # reported by the asserts below
            errors.append(error)
        finally:
            connection.close()

    # when
    with mock.patch.object(cycles, "shift_on_duty", side_effect=shift_on_duty_after_barrier):
        threads = [threading.Thread(target=run_worker) for _ in range(workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    # then
    assert errors == []
    assert sorted(outcome.ran for outcome in outcomes) == [False, True]
    assert TriageCycle.objects.count() == 1
    assert CycleItem.objects.count() == len(entries)
    assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.TRIAGED).count() == len(entries)


@pytest.mark.django_db(transaction=True)
def test_cycle_killed_worker_leaves_nothing(uses_postgres, database_url_for_subprocess, subprocess_env):
    # given: a worker process stalled inside the cycle's transaction, after its items
    entries = [entry_aged(hours) for hours in (3, 2)]
    env = {**subprocess_env, "DJANGO_SETTINGS_MODULE": "config.settings.dev", "DATABASE_URL": database_url_for_subprocess}
    worker = subprocess.Popen(
        [sys.executable, "-c", STALLING_WORKER, NOW.isoformat()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        text=True,
    )
    try:
        output = []
        for line in worker.stdout:
            output.append(line)
            if line.strip() == "stalled":
                break
        else:
            pytest.fail("The worker exited before stalling:\n" + "".join(output))

        # when: the worker is killed without any chance to clean up
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.stdout.close()

    # then: PostgreSQL rolled its transaction back, and a retry runs the slot cleanly
    assert TriageCycle.objects.count() == 0
    assert CycleItem.objects.count() == 0
    retry = cycle_run(now=NOW)
    assert retry.ran
    assert retry.queued == len(entries)
