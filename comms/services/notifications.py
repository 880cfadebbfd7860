"""In-app notifications of staff."""

from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser

from comms.models import Notification


def notification_mark_read(*, notification_id: int, user: AbstractBaseUser, now: datetime) -> bool:
    """Mark one of the user's notifications read; return False if it is not theirs or was read already.

    The filter on the recipient means nobody can mark another person's notification.
    """
    updated = Notification.objects.filter(pk=notification_id, recipient=user, read_at__isnull=True).update(read_at=now)
    return bool(updated)
