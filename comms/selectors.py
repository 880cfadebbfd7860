"""Read-only queries about customer updates for pages outside the comms app."""

from datetime import datetime

from django.db.models import Count, DateTimeField, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, Value

from backlog.models import OPEN_STATUSES, BacklogEntry, TimelineEvent
from comms.models import CustomerUpdate, MessageStage


# Entries the bulk page lists when it shows overdue updates; more wait for the next page load.
OVERDUE_LIST_LIMIT = 200


def overdue_update_counts(*, now: datetime) -> dict[str, int]:
    """Count open entries whose next customer update is overdue at `now`, in one query.

    "intake": triaged open entries (a "Queued for triage" event, or an owner and an ETA)
    without an intake update. "midpoint": open entries with a queued intake update, an ETA
    still ahead and no midpoint update, where `now` is past halfway from the intake update to
    the ETA. These are the entries the cadence sends next, so the counts stay high only when
    it is not running or cannot keep up.
    """
    entries, conditions = _overdue(now=now)
    return entries.aggregate(**{stage: Count("pk", filter=condition) for stage, condition in conditions.items()})


def overdue_entries(*, stage: str, now: datetime, limit: int = OVERDUE_LIST_LIMIT) -> list[BacklogEntry]:
    """Return the open entries whose `stage` update is overdue, oldest first, as the counts define them."""
    entries, conditions = _overdue(now=now)
    if stage not in conditions:
        return []
    return list(
        entries.filter(conditions[stage])
        .select_related("channel", "owner", "resolution_method")
        .order_by("detected_at", "id")[:limit]
    )


def _overdue(*, now: datetime) -> tuple:
    triaged = Exists(TimelineEvent.objects.filter(entry=OuterRef("pk"), kind=TimelineEvent.Kind.TRIAGED))
    has_intake = Exists(CustomerUpdate.objects.filter(entry=OuterRef("pk"), stage=MessageStage.INTAKE))
    has_midpoint = Exists(CustomerUpdate.objects.filter(entry=OuterRef("pk"), stage=MessageStage.MIDPOINT))
    intake_at = Subquery(
        CustomerUpdate.objects.filter(
            entry=OuterRef("pk"), stage=MessageStage.INTAKE, status=CustomerUpdate.Status.QUEUED
        )
        .order_by("created_at", "id")
        .values("created_at")[:1],
        output_field=DateTimeField(),
    )
    moment = Value(now, output_field=DateTimeField())
    entries = BacklogEntry.objects.filter(status__in=OPEN_STATUSES).annotate(
        triaged=triaged,
        has_intake=has_intake,
        has_midpoint=has_midpoint,
        intake_at=intake_at,
        since_intake=ExpressionWrapper(moment - F("intake_at"), output_field=DurationField()),
        until_eta=ExpressionWrapper(F("due_at") - moment, output_field=DurationField()),
    )
    intake_overdue = Q(has_intake=False) & (Q(triaged=True) | Q(owner__isnull=False, due_at__isnull=False))
    # Past halfway means the time since the intake update is at least the time left to the ETA.
    midpoint_overdue = Q(
        has_midpoint=False, intake_at__isnull=False, due_at__gt=now, since_intake__gte=F("until_eta")
    )
    return entries, {MessageStage.INTAKE.value: intake_overdue, MessageStage.MIDPOINT.value: midpoint_overdue}
