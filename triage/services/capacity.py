"""Capacity flags: teams whose entries keep reaching the same escalation level."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest

from triage.models import CapacityFlag, Escalation

logger = logging.getLogger(__name__)

User = get_user_model()


class CapacityFlagResolvedError(Exception):
    """Raised when a flag is resolved a second time."""


def capacity_flags_update(*, now: datetime) -> int:
    """Raise a flag for each (team, level) that missed its cutoff too often in the rolling window.

    A miss is an escalation of one of the team's entries whose fired_at lies within the last
    CAPACITY_FLAG_WINDOW_DAYS days. Misses from before the last resolved flag of that
    (team, level) do not count again, so resolving a flag waits for a new pattern. The team
    is the entry's team now, not when the escalation fired. Entries without a team are left
    out. Returns the number of flags inserted.

    One grouped query finds the teams, and one INSERT ... ON CONFLICT DO NOTHING writes the
    flags. The partial unique constraint keeps one open flag per (team, level) when two
    workers run at once.
    """
    window_start = now - timedelta(days=settings.CAPACITY_FLAG_WINDOW_DAYS)
    last_resolved = (
        CapacityFlag.objects.filter(
            team=OuterRef("entry__team"), level=OuterRef("level"), resolved_at__isnull=False
        )
        .order_by("-resolved_at")
        .values("resolved_at")[:1]
    )
    open_flag = CapacityFlag.objects.filter(
        team=OuterRef("entry__team"), level=OuterRef("level"), resolved_at__isnull=True
    )
    counting_since = Greatest(Coalesce(Subquery(last_resolved), window_start), window_start)
    rows = (
        Escalation.objects.filter(entry__team__isnull=False, fired_at__gt=window_start, fired_at__lte=now)
        .alias(counting_since=counting_since, has_open_flag=Exists(open_flag))
        .filter(fired_at__gt=F("counting_since"), has_open_flag=False)
        .values("entry__team", "level")
        .annotate(misses=Count("pk"))
        .filter(misses__gte=settings.CAPACITY_FLAG_MISSES)
        .order_by()
    )
    flags = [
        CapacityFlag(
            team_id=row["entry__team"],
            level=row["level"],
            window_start=window_start,
            window_end=now,
            misses=row["misses"],
            created_at=now,
        )
        for row in rows
    ]
    if not flags:
        return 0
    # NOTE: a second worker that raised the same flag in the meantime makes this count one
    # too high, because ignore_conflicts does not report which rows were skipped.
    CapacityFlag.objects.bulk_create(flags, ignore_conflicts=True)
    logger.info(
        "Raised %d capacity flags at %s: %s.",
        len(flags),
        now.isoformat(),
        ", ".join(f"team {flag.team_id} level {flag.level} ({flag.misses} misses)" for flag in flags),
    )
    return len(flags)


def capacity_flag_resolve(*, flag_id: int, actor: User, now: datetime, note: str) -> CapacityFlag:
    """Close an open flag with the manager's note on what changed: more capacity or tighter rules."""
    note = note.strip()
    if not note:
        raise ValueError("Closing a capacity flag needs a note saying what was changed.")
    with transaction.atomic():
        flag = CapacityFlag.objects.select_for_update(of=("self",)).select_related("team").get(pk=flag_id)
        if flag.resolved_at is not None:
            raise CapacityFlagResolvedError(
                f"The level {flag.level} capacity flag of {flag.team} was already resolved "
                f"at {flag.resolved_at:%Y-%m-%d %H:%M} UTC."
            )
        flag.resolved_by = actor
        flag.resolved_at = now
        flag.note = note
        flag.save(update_fields=["resolved_by", "resolved_at", "note"])
    logger.info("Capacity flag %s resolved by user %s.", flag_id, actor.pk)
    return flag
