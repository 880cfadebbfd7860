"""Registering periodic jobs in the beat schedule keeps whatever an admin changed."""

from io import StringIO

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from triage.services.schedule import PERIODIC_JOBS, periodic_jobs_register

pytestmark = pytest.mark.django_db

TRIAGE_JOB = next(job for job in PERIODIC_JOBS if job.task == "triage.run_triage_cycle")


def setup_schedule() -> str:
    output = StringIO()
    call_command("setup_schedule", stdout=output)
    return output.getvalue()


def test_setup_schedule_creates_every_job():
    output = setup_schedule()

    for job in PERIODIC_JOBS:
        task = PeriodicTask.objects.get(name=job.name)
        assert task.task == job.task
        assert task.enabled
        assert f"{job.name} ({job.task}): created" in output


def test_setup_schedule_twice_creates_one_row_per_job():
    setup_schedule()
    output = setup_schedule()

    assert PeriodicTask.objects.filter(name__in=[job.name for job in PERIODIC_JOBS]).count() == len(PERIODIC_JOBS)
    assert CrontabSchedule.objects.count() == len({job.minute for job in PERIODIC_JOBS})
    assert f"{TRIAGE_JOB.name} ({TRIAGE_JOB.task}): kept as configured" in output


def test_triage_job_crontab_in_site_zone(settings):
    settings.TIME_ZONE = "America/New_York"

    periodic_jobs_register()

    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    assert task.crontab.minute == "0,30"
    assert task.crontab.hour == "*"
    assert str(task.crontab.timezone) == "America/New_York"
    assert task.interval is None


def test_triage_job_expiry_within_two_intervals():
    periodic_jobs_register()

    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    # A run still queued after one interval is no longer needed, because the next beat has
    # been sent. Expiring it before two intervals keeps a stalled queue from piling up.
    assert 30 * 60 < task.expire_seconds < 60 * 60


def test_register_returns_only_new_jobs():
    first = periodic_jobs_register()
    second = periodic_jobs_register()

    assert first == [job.name for job in PERIODIC_JOBS]
    assert second == []


def test_setup_schedule_keeps_crontab_admin_changed():
    # given: an admin moved the cycle to :15 and :45
    setup_schedule()
    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    custom, _ = CrontabSchedule.objects.get_or_create(minute="15,45", hour="*", timezone="Europe/Berlin")
    task.crontab = custom
    task.save()

    # when
    setup_schedule()

    # then
    task.refresh_from_db()
    assert task.crontab == custom
    assert PeriodicTask.objects.filter(task=TRIAGE_JOB.task).count() == 1


def test_setup_schedule_keeps_interval_and_disabled_flag():
    # given: an admin switched the cycle to a 10-minute interval and paused it
    setup_schedule()
    task = PeriodicTask.objects.get(name=TRIAGE_JOB.name)
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.MINUTES)
    task.crontab = None
    task.interval = interval
    task.enabled = False
    task.save()

    # when
    setup_schedule()

    # then
    task.refresh_from_db()
    assert task.interval == interval
    assert task.crontab is None
    assert not task.enabled


def test_setup_schedule_recreates_deleted_job():
    setup_schedule()
    PeriodicTask.objects.filter(name=TRIAGE_JOB.name).delete()

    output = setup_schedule()

    assert PeriodicTask.objects.filter(name=TRIAGE_JOB.name).exists()
    assert f"{TRIAGE_JOB.name} ({TRIAGE_JOB.task}): created" in output
