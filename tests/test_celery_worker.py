"""A real Celery worker and beat run the triage cycle through Redis against the test database.

The worker tests start `celery worker` and `celery beat` as child processes with production
settings, so they need PostgreSQL (the children must see rows this test commits) and Redis.
Each xdist worker gives them a Redis database of its own (see tests/fixtures_infra.py), so
they may run at the same time.
"""

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app as celery_app
from tests.factories import EntryFactory
from triage.models import CycleItem, TriageCycle
from triage.services.schedule import PERIODIC_JOBS, periodic_jobs_register
from triage.services.slots import slot_start_for

pytest_plugins = ["tests.fixtures_infra"]

# Update these snapshots on purpose when a task or a periodic job is added or renamed:
# a beat schedule stored in the database keeps pointing at the old name.
REGISTERED_TASKS = {
    "triage.run_triage_cycle",
    "triage.run_escalation_sweep",
    "backlog.reclassify_stale_entries",
    "comms.deliver_outbox",
    "comms.send_customer_updates",
}
PERIODIC_JOB_SNAPSHOT = {
    ("Triage cycle", "triage.run_triage_cycle", "0,30", 45 * 60),
    ("Escalation sweep", "triage.run_escalation_sweep", "*/5", 7 * 60),
    ("Re-classification", "backlog.reclassify_stale_entries", "15,45", 45 * 60),
    ("Outbox delivery", "comms.deliver_outbox", "*", 90),
    ("Customer updates", "comms.send_customer_updates", "*/5", 7 * 60),
}

TASK_NAME = "triage.run_triage_cycle"
# Upper bound for a worker to start and finish the tasks; they usually need a few seconds.
WAIT_SECONDS = 60
STOP_SECONDS = 20


def project_task_names() -> set[str]:
    celery_app.loader.import_default_modules()
    return {name for name in celery_app.tasks if not name.startswith("celery.")}


def test_registered_task_names_match_snapshot():
    assert project_task_names() == REGISTERED_TASKS


def test_periodic_jobs_match_snapshot():
    snapshot = {(job.name, job.task, job.minute, job.expires_seconds) for job in PERIODIC_JOBS}

    assert snapshot == PERIODIC_JOB_SNAPSHOT


def test_every_periodic_job_names_registered_task():
    registered = project_task_names()

    for job in PERIODIC_JOBS:
        assert job.task in registered, f"Periodic job {job.name!r} runs {job.task!r}, which no module registers."


class CeleryProcess:
    """One `celery` child process whose output goes to a log file."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=log_dir,
        )

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            # SIGTERM is Celery's warm shutdown: running tasks finish, then every process exits.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture
def celery_processes(
    settings, celery_redis_url, database_url_for_subprocess, subprocess_env, tmp_path
) -> Iterator[Callable[..., CeleryProcess]]:
    env = {
        **subprocess_env,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "celery-worker-test-key",
        "DATABASE_URL": database_url_for_subprocess,
        "REDIS_URL": celery_redis_url,
        "ALLOWED_HOSTS": "localhost",
        "EMAIL_URL": "consolemail://",
        "TIME_ZONE": settings.TIME_ZONE,
        # Each task opens and closes its connection, so none outlives the test database.
        "CONN_MAX_AGE": "0",
    }
    started: list[CeleryProcess] = []

    def start(name: str, *args: str) -> CeleryProcess:
        process = CeleryProcess(name, list(args), env=env, log_dir=tmp_path)
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


def start_worker(start: Callable[..., CeleryProcess]) -> CeleryProcess:
    return start(
        "worker",
        "worker",
        "--loglevel=INFO",
        "--concurrency=2",
        "--hostname=triage-test-worker@%h",
        "--without-gossip",
        "--without-mingle",
    )


def wait_for(condition: Callable[[], bool], *, what: str, processes: list[CeleryProcess]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        for process in processes:
            if process.process.poll() is not None:
                pytest.fail(f"celery {process.name} exited with {process.process.returncode}:\n{process.log()}")
        time.sleep(0.25)
    logs = "\n".join(f"--- {process.name} ---\n{process.log()}" for process in processes)
    pytest.fail(f"Timed out after {WAIT_SECONDS} s waiting for {what}.\n{logs}")


def finished_runs(worker: CeleryProcess) -> int:
    return sum(1 for line in worker.log().splitlines() if TASK_NAME in line and " succeeded in " in line)


def slots_during(started: datetime, finished: datetime) -> set[datetime]:
    """Return the slot starts a test that ran from `started` to `finished` may have touched."""
    slots = {slot_start_for(started)}
    moment = started
    while moment < finished:
        moment = min(moment + timedelta(minutes=30), finished)
        slots.add(slot_start_for(moment))
    return slots


def untriaged_entries(count: int) -> list:
    detected_at = timezone.now() - timedelta(hours=3)
    return [EntryFactory(ordered_at=detected_at, detected_at=detected_at) for _ in range(count)]


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_runs_cycle_sent_through_redis(celery_processes, celery_redis_url):
    # given
    entries = untriaged_entries(3)
    worker = start_worker(celery_processes)
    sender = Celery("triage-desk-test-sender", broker=celery_redis_url)
    started = timezone.now()

    # when: the task is sent three times, as a retry or a second beat would
    try:
        for _ in range(3):
            sender.send_task(TASK_NAME)
        wait_for(lambda: finished_runs(worker) >= 3, what="three finished triage tasks", processes=[worker])
    finally:
        sender.close()
    finished = timezone.now()

    # then
    cycles = list(TriageCycle.objects.order_by("slot_start"))
    assert 1 <= len(cycles) <= len(slots_during(started, finished))
    assert {cycle.slot_start for cycle in cycles} <= slots_during(started, finished)
    first = cycles[0]
    assert first.status == TriageCycle.Status.DONE
    assert sorted(CycleItem.objects.filter(cycle=first).values_list("entry_id", flat=True)) == sorted(
        entry.pk for entry in entries
    )


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_beat_fires_cycle_once_per_slot(celery_processes):
    # given: the registered triage job, re-timed by an "admin" to fire every second
    entries = untriaged_entries(2)
    periodic_jobs_register()
    every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task=TASK_NAME).update(crontab=None, interval=every_second)
    started = timezone.now()

    # when
    worker = start_worker(celery_processes)
    beat = celery_processes(
        "beat",
        "beat",
        "--loglevel=INFO",
        "--scheduler=django_celery_beat.schedulers:DatabaseScheduler",
        "--max-interval=1",
    )
    wait_for(
        lambda: finished_runs(worker) >= 4,
        what="four triage tasks sent by beat to finish",
        processes=[worker, beat],
    )
    finished = timezone.now()

    # then: several beats fired, but each slot has one cycle with one set of items
    assert beat.log().count("Sending due task") >= 4
    cycles = list(TriageCycle.objects.order_by("slot_start"))
    assert 1 <= len(cycles) <= len(slots_during(started, finished))
    assert {cycle.slot_start for cycle in cycles} <= slots_during(started, finished)
    assert CycleItem.objects.filter(cycle=cycles[0]).count() == len(entries)
