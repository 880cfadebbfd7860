"""Daily intake per category, seller and region, against its trailing baseline.

The baseline counts every recorded order, open or closed, so a surge is measured against
the normal pace of that category, seller or region and not against the backlog alone.
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate

from backlog.classification import DemandFigure
from backlog.models import BacklogEntry, EntryLine

# (dimension, key) -> {day: orders}
DailyIntake = dict[tuple[str, str], dict[date, int]]


def demand_figures(
    entries: Sequence[BacklogEntry], *, baseline_days: int
) -> dict[int, dict[str, DemandFigure]]:
    """Return, per entry id, the intake of its order day for its category, seller and region.

    Runs three grouped queries over the days the entries span plus the baseline window,
    whatever the number of entries.
    """
    if not entries:
        return {}
    zone = ZoneInfo(settings.TIME_ZONE)
    order_day = {entry.pk: entry.ordered_at.astimezone(zone).date() for entry in entries}
    first_day = min(order_day.values()) - timedelta(days=baseline_days)
    last_day = max(order_day.values())

    keys_by_entry = _entry_keys([entry.pk for entry in entries], entries)
    intake = _daily_intake(keys_by_entry, first_day=first_day, last_day=last_day, zone=zone)

    figures: dict[int, dict[str, DemandFigure]] = {}
    for entry_id, keys in keys_by_entry.items():
        day = order_day[entry_id]
        figures[entry_id] = {}
        for dimension, key in keys.items():
            per_day = intake.get((dimension, key), {})
            figures[entry_id][dimension] = DemandFigure(
                key=key,
                day=day.isoformat(),
                count=per_day.get(day, 0),
                baseline=_trailing_mean(per_day, day, baseline_days),
            )
    return figures


def _entry_keys(
    entry_ids: list[int], entries: Sequence[BacklogEntry]
) -> dict[int, dict[str, str]]:
    """Pick each entry's category and seller (from its first line that has one) and region."""
    keys: dict[int, dict[str, str]] = {entry.pk: {} for entry in entries}
    for entry in entries:
        if entry.region:
            keys[entry.pk]["region"] = entry.region

    lines = (
        EntryLine.objects.filter(entry_id__in=entry_ids)
        .order_by("entry_id", "line_number")
        .values_list("entry_id", "category", "seller")
    )
    for entry_id, category, seller in lines:
        if category:
            keys[entry_id].setdefault("category", category)
        if seller:
            keys[entry_id].setdefault("seller", seller)
    return keys


def _daily_intake(
    keys_by_entry: dict[int, dict[str, str]], *, first_day: date, last_day: date, zone: ZoneInfo
) -> DailyIntake:
    wanted: dict[str, set[str]] = defaultdict(set)
    for keys in keys_by_entry.values():
        for dimension, key in keys.items():
            wanted[dimension].add(key)

    # Bounds as instants, so the query can use the index on ordered_at; the local-day
    # truncation below then groups what falls inside.
    window = {
        "ordered_at__gte": datetime.combine(first_day, time.min, tzinfo=zone),
        "ordered_at__lt": datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=zone),
    }
    intake: DailyIntake = defaultdict(dict)

    if wanted["region"]:
        rows = (
            BacklogEntry.objects.filter(region__in=wanted["region"], **window)
            .annotate(day=TruncDate("ordered_at", tzinfo=zone))
            .values("region", "day")
            .annotate(orders=Count("id"))
        )
        for row in rows:
            intake[("region", row["region"])][row["day"]] = row["orders"]

    for dimension in ("category", "seller"):
        if not wanted[dimension]:
            continue
        rows = (
            EntryLine.objects.filter(**{f"{dimension}__in": wanted[dimension]})
            .filter(**{f"entry__{name}": value for name, value in window.items()})
            .annotate(day=TruncDate("entry__ordered_at", tzinfo=zone))
            .values(dimension, "day")
            .annotate(orders=Count("entry_id", distinct=True))
        )
        for row in rows:
            intake[(dimension, row[dimension])][row["day"]] = row["orders"]
    return intake


def _trailing_mean(per_day: dict[date, int], day: date, baseline_days: int) -> float:
    """Return the mean daily intake over the `baseline_days` days before `day`."""
    if baseline_days <= 0:
        return 0.0
    total = sum(
        per_day.get(day - timedelta(days=offset), 0) for offset in range(1, baseline_days + 1)
    )
    return round(total / baseline_days, 2)
