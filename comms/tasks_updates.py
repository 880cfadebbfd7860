"""The Celery task of the customer update cadence; it only calls the service.

comms/tasks.py imports this module, so Celery's autodiscovery registers the task.
"""

from celery import shared_task
from django.utils import timezone

from comms.services.updates import updates_cadence


# No autoretry: an entry the run did not reach is selected again by the next beat.
@shared_task(name="comms.send_customer_updates")
def send_customer_updates_task() -> dict:
    """Send the intake, midpoint and final updates that are due, and record skipped midpoints."""
    return updates_cadence(now=timezone.now())
