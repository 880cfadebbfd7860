"""Celery beat restarts never starve the 30-minute triage cycle.

Each restart builds a new django-celery-beat DatabaseScheduler from the database, so only
what the old scheduler wrote there (PeriodicTask.last_run_at and total_run_count) carries
over. Between restarts the scheduler runs beat's own loop on a fake clock, as
celery.beat.Service.start does in Celery 5.7: tick, sleep for the delay that tick returns,
then sync once beat's 3-minute sync timer has run out. CELERY_TASK_ALWAYS_EAGER runs each task that beat
sends in the test process, so the cycles land in the test database.
"""

import time
from collections import Counter
from datetime import datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import celery.beat
import pytest
import time_machine
from celery.signals import task_postrun
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from django_celery_beat.schedulers import DEFAULT_MAX_INTERVAL, DatabaseScheduler

import triage.tasks  # noqa: F401  (registers the task, as autodiscovery does when beat starts)
from config.celery import app
from triage.models import TriageCycle
from triage.services.schedule import PERIODIC_JOBS, periodic_jobs_register
from triage.services.slots import next_slot_start, slot_start_for

TRIAGE_JOB = next(job for job in PERIODIC_JOBS if job.task == "triage.run_triage_cycle")
SITE_ZONE = "Europe/Berlin"
SLOT = timedelta(minutes=30)
# Fake start time. Restarts every 20 minutes then fall at :09:58, :29:58 and :49:58, so
# every third one lands 2 seconds before the :30 run. No daylight saving time change
# falls in the day after it.
START = datetime(2025, 3, 10, 8, 9, 58, tzinfo=ZoneInfo(SITE_ZONE))
# Beat sleeps exactly until a run is due, so a cycle starting later than this after its
# slot start was sent late.
MAX_LATENESS = timedelta(seconds=1)
# Time one pass of beat's loop takes when it does not sleep. This is an estimate, since
# the real pass takes as long as its database queries.
BEAT_PASS = timedelta(milliseconds=1)
# Passes of beat's loop in one run between restarts before the test gives up: far more
# than a working schedule needs, so a loop that stops advancing fails instead of hanging.
MAX_BEAT_PASSES = 50_000


class InProcessDatabaseScheduler(DatabaseScheduler):
    """DatabaseScheduler that opens no broker connection.

    Eager mode runs every task in-process, so beat's producer would only connect to the
    broker (Redis, if REDIS_URL is set) without ever publishing to it.
    """

    producer = None

    def send_task(self, name, *args, **kwargs):
        # Beat sends a task it has not imported through the broker, by name. Here that
        # would write to the project's broker, so reject it. Beat logs the error, and the
        # run is lost.
        raise RuntimeError(
            f"Task {name!r} is not registered with the Celery app, so beat would publish it "
            "to the broker. Import the module that defines it."
        )


def beat_start(max_interval: float) -> InProcessDatabaseScheduler:
    """Start beat as a deploy does: register the periodic jobs, then load the schedule."""
    periodic_jobs_register()
    return InProcessDatabaseScheduler(app=app, max_interval=max_interval)


def beat_stop(scheduler: InProcessDatabaseScheduler, *, graceful: bool) -> None:
    """Stop beat as SIGTERM does, writing the schedule, or as SIGKILL does, losing unsynced runs."""
    if graceful:
        scheduler.close()
    # Otherwise the finalizer would write the schedule when the test process exits.
    scheduler._finalize.cancel()


def beat_run_until(scheduler: InProcessDatabaseScheduler, traveller, stop_at: datetime) -> None:
    """Run beat's main loop on the fake clock until `stop_at`, when beat stops mid-sleep."""
    passes = 0
    while timezone.now() < stop_at:
        passes += 1
        assert passes <= MAX_BEAT_PASSES, f"Beat's loop stopped advancing at {timezone.now().isoformat()}."
        delay = scheduler.tick()
        if not delay or delay <= 0:
            # Beat loops again at once, and that pass takes real time. Without this step
            # the frozen clock would stay 10 ms short of a due run forever, because beat
            # wakes that much early.
            traveller.shift(BEAT_PASS)
            continue

        remaining = (stop_at - timezone.now()).total_seconds()
        if delay >= remaining:
            traveller.shift(remaining)
            return
        traveller.shift(delay)
        if scheduler.should_sync():
            scheduler._do_sync()


def beat_run_with_restarts(
    *, every: timedelta, duration: timedelta, graceful: bool, max_interval: float
) -> datetime:
    """Run beat from START for `duration`, restarting it every `every`, and return the end time."""
    end = START + duration
    with time_machine.travel(START, tick=False) as traveller:
        while timezone.now() < end:
            scheduler = beat_start(max_interval)
            stop_at = min(timezone.now() + every, end)
            beat_run_until(scheduler, traveller, stop_at)
            beat_stop(scheduler, graceful=graceful)
    return end


def slots_between(start: datetime, end: datetime) -> list[datetime]:
    """Return the starts of the slots that begin after `start` and at or before `end`."""
    slots = []
    slot = next_slot_start(slot_start_for(start))
    while slot <= end:
        slots.append(slot)
        slot = next_slot_start(slot)
    return slots


def max_gap(start: datetime, moments: list[datetime], end: datetime) -> timedelta:
    """Return the longest time from `start` to `end` with none of `moments` in it."""
    points = [start, *sorted(moments), end]
    return max(later - earlier for earlier, later in zip(points, points[1:]))


@pytest.fixture
def site_zone(settings):
    settings.TIME_ZONE = SITE_ZONE


@pytest.fixture
def beat_sync_timer_on_fake_clock(monkeypatch):
    """Make beat's sync timer follow the fake clock, as in production it follows wall time.

    celery.beat reads time.monotonic to sync every 3 minutes, and time-machine does not
    move that clock.
    """
    fake_time = SimpleNamespace(monotonic=lambda: time.time(), sleep=time.sleep)
    monkeypatch.setattr(celery.beat, "time", fake_time)


@pytest.fixture
def triage_results():
    """Collect the result of every triage task that runs, in order."""
    results = []

    def record(sender=None, retval=None, **kwargs):
        if sender is not None and sender.name == TRIAGE_JOB.task:
            results.append(retval)

    task_postrun.connect(record, weak=False)
    yield results
    task_postrun.disconnect(record)


@pytest.mark.parametrize("graceful", [True, False], ids=["sigterm", "sigkill"])
def test_beat_restarts_keep_cycle_running(
    transactional_db, site_zone, beat_sync_timer_on_fake_clock, triage_results, graceful
):
    # when: beat restarts every 20 minutes for 3 hours, ticking at least every 5 seconds
    end = beat_run_with_restarts(
        every=timedelta(minutes=20),
        duration=timedelta(hours=3),
        graceful=graceful,
        max_interval=DEFAULT_MAX_INTERVAL,
    )

    # then: every slot got its cycle on time, once
    cycles = list(TriageCycle.objects.order_by("slot_start"))
    slots = [cycle.slot_start for cycle in cycles]
    late = [cycle.slot_start for cycle in cycles if cycle.started_at - cycle.slot_start > MAX_LATENESS]
    assert len(cycles) >= 6
    assert slots == slots_between(START, end)
    assert late == []
    assert max_gap(START, [cycle.started_at for cycle in cycles], end) <= SLOT + MAX_LATENESS

    ran_per_slot = Counter(result["slot_start"] for result in triage_results if result["ran"])
    assert [slot for slot, count in ran_per_slot.items() if count > 1] == []
    assert sorted(ran_per_slot) == [slot.isoformat() for slot in slots]

    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    assert task.last_run_at >= slots[-1]


def test_daily_beat_restarts_keep_cycle_firing(
    transactional_db, site_zone, beat_sync_timer_on_fake_clock, triage_results
):
    # when: beat is killed and restarted every 6 hours for a day, past midnight, ticking
    # at least once a minute (celery beat --max-interval 60). A simulated day still takes
    # seconds, because django-celery-beat 2.9 reloads the whole schedule every 5 minutes.
    end = beat_run_with_restarts(
        every=timedelta(hours=6), duration=timedelta(days=1), graceful=False, max_interval=60
    )

    # then: the cycle kept firing in every slot, once
    cycles = list(TriageCycle.objects.order_by("slot_start"))
    slots = [cycle.slot_start for cycle in cycles]
    late = [cycle.slot_start for cycle in cycles if cycle.started_at - cycle.slot_start > MAX_LATENESS]
    assert len(cycles) >= 24 * 2
    assert slots == slots_between(START, end)
    assert late == []
    assert max_gap(START, [cycle.started_at for cycle in cycles], end) <= SLOT + MAX_LATENESS

    ran_per_slot = Counter(result["slot_start"] for result in triage_results if result["ran"])
    assert [slot for slot, count in ran_per_slot.items() if count > 1] == []
    assert sorted(ran_per_slot) == [slot.isoformat() for slot in slots]

    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    assert task.last_run_at >= slots[-1]
