"""Celery tasks of the backlog app; each one only calls a service."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from backlog.services.classifying import entries_reclassify_stale


@shared_task(name="backlog.reclassify_stale_entries")
def reclassify_stale_entries_task() -> int:
    """Re-classify the open entries not classified within the last shift; safe to run twice."""
    return entries_reclassify_stale(
        now=timezone.now(), older_than=timedelta(hours=settings.RECLASSIFY_AFTER_HOURS)
    )
