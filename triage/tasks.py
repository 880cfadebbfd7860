"""Celery tasks of the triage loop; each one only calls a service."""

from celery import shared_task
from django.utils import timezone

from triage.services.capacity import capacity_flags_update
from triage.services.cycles import cycle_run
from triage.services.escalations import escalation_sweep


@shared_task(name="triage.run_triage_cycle")
def run_triage_cycle_task() -> dict:
    """Run the cycle of the current slot; a duplicate beat or a retry does nothing."""
    outcome = cycle_run(now=timezone.now())
    return {"slot_start": outcome.slot_start.isoformat(), "ran": outcome.ran, "queued": outcome.queued}


@shared_task(name="triage.run_escalation_sweep")
def run_escalation_sweep_task() -> dict:
    """Record the ladder levels that open entries reached; a duplicate run records nothing."""
    now = timezone.now()
    outcome = escalation_sweep(now=now)
    flags = capacity_flags_update(now=now)
    return {"clocks_computed": outcome.clocks_computed, "escalated": outcome.escalated, "capacity_flags": flags}
