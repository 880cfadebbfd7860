"""Lookup of the shift, and so the lead and support person, on duty at a given moment."""

from datetime import datetime

from triage.models import Shift

from .slots import local_time_of


def shift_on_duty(moment: datetime) -> Shift | None:
    """Return the shift covering `moment` on the site's clock, or None when nobody is on duty."""
    clock = local_time_of(moment)
    for shift in Shift.objects.select_related("lead", "support"):
        if shift.starts_at <= shift.ends_at:
            covers = shift.starts_at <= clock < shift.ends_at
        else:
            # The shift runs past midnight, such as 22:00-06:00.
            covers = clock >= shift.starts_at or clock < shift.ends_at
        if covers:
            return shift
    return None
