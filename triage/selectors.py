"""Read queries of the triage pages."""

from django.db.models import Count, Q

from triage.models import TriageCycle


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
