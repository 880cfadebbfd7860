"""Read queries of the triage pages."""

from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count, IntegerField, Prefetch, Q, Value

from backlog.models import OPEN_STATUSES
from triage.models import CapacityFlag, Escalation, EscalationClock, EscalationComment, TriageCycle

# Stands for "in warning" in the level column of the badge query; real levels are 1 to 3.
WARNING_LEVEL = 0


def recent_cycles(*, limit: int) -> list[TriageCycle]:
    """Return the latest `limit` cycles, newest first, each with `queued` and `decided` counts."""
    return list(
        TriageCycle.objects.select_related("lead", "support", "shift")
        .annotate(
            queued=Count("items"),
            decided=Count("items", filter=Q(items__decided_at__isnull=False)),
        )
        .order_by("-slot_start")[:limit]
    )


# Orderings of the escalation review; the first key also decides how rows are grouped.
ESCALATION_SORTS = {
    "level": ("-level", "entry__detected_at", "pk"),
    "age": ("entry__detected_at", "-level", "pk"),
    "team": ("entry__team__name", "-level", "entry__detected_at", "pk"),
    "fired": ("-fired_at", "-level", "pk"),
}


def review_escalations(
    *,
    statuses: Sequence[str],
    escalation_id: int | None = None,
    level: int | None = None,
    team_id: int | None = None,
    channel_code: str | None = None,
    sort: str = "level",
    limit: int,
) -> list[Escalation]:
    """Return up to `limit` escalations for the review screen, in two queries whatever the count.

    Each escalation comes with its entry, the entry's team, channel and owner, the people
    who acknowledged or resolved it, and its comments with their authors.
    """
    queryset = Escalation.objects.filter(status__in=statuses)
    if escalation_id is not None:
        queryset = queryset.filter(pk=escalation_id)
    if level is not None:
        queryset = queryset.filter(level=level)
    if team_id is not None:
        queryset = queryset.filter(entry__team_id=team_id)
    if channel_code:
        queryset = queryset.filter(entry__channel__code=channel_code)
    comments = EscalationComment.objects.select_related("author").order_by("created_at", "pk")
    return list(
        queryset.select_related(
            "entry__team", "entry__channel", "entry__owner", "acknowledged_by", "resolved_by"
        )
        .prefetch_related(Prefetch("comments", queryset=comments))
        .order_by(*ESCALATION_SORTS[sort])[:limit]
    )


def open_capacity_flags() -> list[CapacityFlag]:
    return list(CapacityFlag.objects.filter(resolved_at__isnull=True).select_related("team").order_by("-level", "created_at"))


def escalation_badges(*, now: datetime) -> dict[str, int]:
    """Count open escalations per level and the entries in their warning period, in one query.

    Returns {"level1": n, "level2": n, "level3": n, "warning": n}. Acknowledged escalations
    are not counted, because a manager has already taken them on.

    An entry is in warning when its clock's warning time has passed and the cutoff of the
    level after the entry's current one is still ahead.
    """
    by_level = (
        Escalation.objects.filter(status=Escalation.Status.OPEN)
        .values("level")
        .annotate(count=Count("pk"))
        .order_by()
    )
    # The sweep drops the clock of an entry that climbs a level, so a stored warning time
    # always belongs to the level after the entry's current one.
    next_cutoff_ahead = (
        Q(entry__escalation_level=0, level1_due_at__gt=now)
        | Q(entry__escalation_level=1, level2_due_at__gt=now)
        | Q(entry__escalation_level=2, level3_due_at__gt=now)
    )
    warnings = (
        EscalationClock.objects.filter(next_cutoff_ahead, warning_at__lte=now, entry__status__in=OPEN_STATUSES)
        .values(level=Value(WARNING_LEVEL, output_field=IntegerField()))
        .annotate(count=Count("pk"))
        .order_by()
    )
    counts = {"level1": 0, "level2": 0, "level3": 0, "warning": 0}
    for row in by_level.union(warnings, all=True):
        key = "warning" if row["level"] == WARNING_LEVEL else f"level{row['level']}"
        counts[key] += row["count"]
    return counts
