"""Triage slots: 30-minute periods aligned to :00 and :30 on the site's clock."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def slot_start_for(now: datetime, *, zone: ZoneInfo | None = None) -> datetime:
    """Return the start (in UTC) of the slot that contains `now`.

    The slot is found on the local clock, so zones with a 45-minute offset still get :00 and
    :30 starts. In the hour that repeats when DST ends, the local time keeps its fold, so
    02:30 CEST and 02:30 CET are two different slots, one hour apart in UTC.
    """
    if timezone.is_naive(now):
        raise ValueError("slot_start_for needs an aware datetime; got a naive one.")
    zone = zone or site_zone()
    minutes = settings.TRIAGE_SLOT_MINUTES

    local = now.astimezone(zone)
    floored = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    return floored.astimezone(ZoneInfo("UTC"))


def next_slot_start(slot_start: datetime) -> datetime:
    """Return the start of the slot after `slot_start`, in UTC."""
    return slot_start_for(slot_start + timedelta(minutes=settings.TRIAGE_SLOT_MINUTES))


def local_time_of(moment: datetime, *, zone: ZoneInfo | None = None) -> time:
    return moment.astimezone(zone or site_zone()).time()
