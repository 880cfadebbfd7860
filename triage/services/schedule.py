"""Register the periodic jobs in django-celery-beat's database schedule."""

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    # Crontab minute field, read on the site's clock.
    minute: str
    # Seconds after which an undelivered run is dropped; about 1.5 times the interval.
    expires_seconds: int


PERIODIC_JOBS = (
    PeriodicJob(name="Triage cycle", task="triage.run_triage_cycle", minute="0,30", expires_seconds=45 * 60),
    # Every five minutes; an admin can change the crontab, and setup keeps the change.
    PeriodicJob(
        name="Escalation sweep", task="triage.run_escalation_sweep", minute="*/5", expires_seconds=7 * 60
    ),
    # Every minute, so an escalation notice leaves within about a minute of the sweep.
    PeriodicJob(name="Outbox delivery", task="comms.deliver_outbox", minute="*", expires_seconds=90),
    # Intake, midpoint and final customer updates that fell due, every five minutes.
    PeriodicJob(
        name="Customer updates", task="comms.send_customer_updates", minute="*/5", expires_seconds=7 * 60
    ),
    # Between the cycles, so the two never compete for the same rows.
    PeriodicJob(
        name="Re-classification", task="backlog.reclassify_stale_entries", minute="15,45", expires_seconds=45 * 60
    ),
)


def periodic_jobs_register() -> list[str]:
    """Create missing periodic tasks; return the names created.

    A task that already exists is left exactly as it is, so a schedule or an enabled flag
    that an admin changed survives every deploy.
    """
    created = []
    with transaction.atomic():
        for job in PERIODIC_JOBS:
            if PeriodicTask.objects.filter(name=job.name).exists():
                continue
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=job.minute,
                hour="*",
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone=settings.TIME_ZONE,
            )
            PeriodicTask.objects.create(
                name=job.name, task=job.task, crontab=crontab, expire_seconds=job.expires_seconds
            )
            created.append(job.name)
    return created
