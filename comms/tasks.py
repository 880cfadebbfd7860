"""Celery tasks of communication; each one only calls a service."""

from celery import shared_task
from django.utils import timezone

from comms.services.outbox import outbox_deliver


# No autoretry: the service retries each message on its own schedule, and a run that dies
# leaves its rows queued for the next beat.
@shared_task(name="comms.deliver_outbox")
def deliver_outbox_task() -> dict:
    """Send the outbox messages that are due; rows another worker has locked are skipped."""
    outcome = outbox_deliver(now=timezone.now())
    return {"sent": outcome.sent, "retried": outcome.retried, "failed": outcome.failed, "cancelled": outcome.cancelled}


# The customer-update task lives in its own module; importing it here registers it with Celery.
from comms.tasks_updates import send_customer_updates_task  # noqa: E402,F401
