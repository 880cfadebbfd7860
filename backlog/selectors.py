"""Read queries behind the dashboard and the entry page.

Each function costs a fixed number of queries, whatever the number of entries, so the
pages stay as fast with a deep backlog as with an empty one.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Prefetch, Q, QuerySet

from triage.models import CycleItem, TriageCycle

from .models import BacklogEntry, BacklogType, ResolutionMethod, TimelineEvent
from .roles import Role

User = get_user_model()

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# Age buckets


@dataclass(frozen=True)
class AgeBucket:
    """A band of entry ages; `upper_hours` is None for the last, open-ended band."""

    index: int
    lower_hours: int
    upper_hours: int | None

    @property
    def label(self) -> str:
        if self.upper_hours is None:
            return f"{_hours_text(self.lower_hours)}+"
        if self.lower_hours == 0:
            return f"< {_hours_text(self.upper_hours)}"
        return f"{_hours_text(self.lower_hours)}–{_hours_text(self.upper_hours)}"


def _hours_text(hours: int) -> str:
    return f"{hours // 24} d" if hours >= 24 and hours % 24 == 0 else f"{hours} h"


def age_buckets() -> list[AgeBucket]:
    """Return the dashboard's age bands, built from the AGE_BUCKET_HOURS setting."""
    bounds = [0, *settings.AGE_BUCKET_HOURS]
    buckets = [
        AgeBucket(index=i, lower_hours=low, upper_hours=high)
        for i, (low, high) in enumerate(zip(bounds, bounds[1:]))
    ]
    buckets.append(AgeBucket(index=len(buckets), lower_hours=bounds[-1], upper_hours=None))
    return buckets


def age_bucket_index(detected_at: datetime, *, now: datetime) -> int:
    """Return the index of the age band an entry detected at `detected_at` falls in."""
    age = now - detected_at
    for index, upper in enumerate(settings.AGE_BUCKET_HOURS):
        if age < timedelta(hours=upper):
            return index
    return len(settings.AGE_BUCKET_HOURS)


def _bucket_condition(bucket: AgeBucket, *, now: datetime) -> Q:
    # An entry detected after `now` (clock skew at intake) counts as the youngest.
    condition = Q()
    if bucket.upper_hours is not None:
        condition &= Q(detected_at__gt=now - timedelta(hours=bucket.upper_hours))
    if bucket.lower_hours:
        condition &= Q(detected_at__lte=now - timedelta(hours=bucket.lower_hours))
    return condition


# Counts panel


@dataclass(frozen=True)
class CountsRow:
    backlog_type: str
    label: str
    cells: list[int]

    @property
    def total(self) -> int:
        return sum(self.cells)


@dataclass(frozen=True)
class CountsTable:
    buckets: list[AgeBucket]
    rows: list[CountsRow]

    @property
    def column_totals(self) -> list[int]:
        return [sum(row.cells[i] for row in self.rows) for i in range(len(self.buckets))]

    @property
    def total(self) -> int:
        return sum(row.total for row in self.rows)


def open_counts_by_type_and_age(*, now: datetime) -> CountsTable:
    """Count open entries per backlog type and age band in one aggregate query.

    Each cell is a conditional COUNT over the open entries, so the database scans them
    once (PostgreSQL can use the open-entries partial indexes) instead of once per cell.
    """
    buckets = age_buckets()
    aggregates = {
        f"{backlog_type}__{bucket.index}": Count(
            "id", filter=Q(backlog_type=backlog_type) & _bucket_condition(bucket, now=now)
        )
        for backlog_type in BacklogType.values
        for bucket in buckets
    }
    totals = BacklogEntry.objects.open().aggregate(**aggregates)
    rows = [
        CountsRow(
            backlog_type=backlog_type,
            label=label,
            cells=[totals[f"{backlog_type}__{bucket.index}"] for bucket in buckets],
        )
        for backlog_type, label in BacklogType.choices
    ]
    return CountsTable(buckets=buckets, rows=rows)


# Triage cycle and its queue


def latest_cycle() -> TriageCycle | None:
    """Return the most recent triage cycle with its pair on duty and its progress.

    The cycle carries `queued` (items in it) and `decided` (items a lead has decided).
    """
    return (
        TriageCycle.objects.select_related("lead", "support", "shift")
        .annotate(
            queued=Count("items"),
            decided=Count("items", filter=Q(items__decided_at__isnull=False)),
        )
        .order_by("-slot_start")
        .first()
    )


def cycle_queue(cycle: TriageCycle) -> list[BacklogEntry]:
    """Return the entries queued in `cycle`, oldest first, each with its `queue_item`."""
    items = (
        CycleItem.objects.filter(cycle=cycle)
        .select_related("entry__channel", "entry__owner", "entry__resolution_method")
        .order_by("entry__detected_at", "entry__id")
    )
    entries = []
    for item in items:
        item.entry.queue_item = item
        entries.append(item.entry)
    return entries


# Open entries, filtered and paged


@dataclass(frozen=True)
class EntryPage:
    entries: list[BacklogEntry]
    next_cursor: str | None
    page_size: int


def with_row_relations(queryset: QuerySet) -> QuerySet:
    """Join what a dashboard row shows, so rendering a page runs no query per row."""
    return queryset.select_related("channel", "owner", "resolution_method")


def encode_cursor(entry: BacklogEntry) -> str:
    """Encode an entry's position in the oldest-first order as `<microseconds>-<id>`."""
    microseconds = (entry.detected_at - _EPOCH) // timedelta(microseconds=1)
    return f"{microseconds}-{entry.pk}"


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    """Return the (detected_at, id) position in a cursor, or None if it is missing or invalid."""
    if not text:
        return None
    microseconds, _, pk = text.partition("-")
    if not microseconds.isdigit() or not pk.isdigit():
        return None
    try:
        detected_at = _EPOCH + timedelta(microseconds=int(microseconds))
    except OverflowError:
        return None
    return detected_at, int(pk)


def open_entries_page(queryset: QuerySet, *, after: str | None, page_size: int) -> EntryPage:
    """Return one page of `queryset`, oldest first, starting after the cursor `after`.

    Keyset paging on (detected_at, id) with the open-entries partial index: a deep page
    costs the same single query as the first, because no OFFSET or COUNT is run.
    """
    queryset = with_row_relations(queryset).order_by("detected_at", "id")
    position = decode_cursor(after)
    if position is not None:
        detected_at, pk = position
        queryset = queryset.filter(
            Q(detected_at__gt=detected_at) | Q(detected_at=detected_at, id__gt=pk)
        )
    # Fetching one row more than the page shows whether a next page exists, without a COUNT.
    rows = list(queryset[: page_size + 1])
    entries = rows[:page_size]
    next_cursor = encode_cursor(entries[-1]) if len(rows) > page_size else None
    return EntryPage(entries=entries, next_cursor=next_cursor, page_size=page_size)


def page_size_from(value: str | None) -> int:
    """Parse a requested page size, falling back to the default and capping it."""
    if value is None or not value.isdigit() or int(value) < 1:
        return DEFAULT_PAGE_SIZE
    return min(int(value), MAX_PAGE_SIZE)


def row_entry(pk: int) -> BacklogEntry:
    """Return one entry with what its dashboard row shows; raise DoesNotExist if missing."""
    return with_row_relations(BacklogEntry.objects.all()).get(pk=pk)


# Choices for the edit forms and filters


def staff_users() -> QuerySet:
    """Active users holding any Triage Desk role: the people an entry can be assigned to."""
    role_names = [role.value for role in Role]
    return (
        User.objects.filter(is_active=True)
        .filter(Q(is_superuser=True) | Q(groups__name__in=role_names))
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


def active_methods() -> QuerySet:
    return ResolutionMethod.objects.filter(active=True)


# Entry page


def entry_for_detail(pk: int) -> BacklogEntry:
    """Return an entry with its lines, timeline (newest first) and cycles, in four queries."""
    events = TimelineEvent.objects.select_related("actor").order_by("-at", "-id")
    cycle_items = CycleItem.objects.select_related("cycle__lead", "cycle__support").order_by(
        "-cycle__slot_start"
    )
    return (
        BacklogEntry.objects.select_related("channel", "team", "owner", "resolution_method")
        .prefetch_related(
            "lines",
            Prefetch("events", queryset=events),
            Prefetch("cycle_items", queryset=cycle_items),
        )
        .get(pk=pk)
    )


# Timeline fields whose stored values are user names, because display_value stores a user as str(user).
USER_CHANGE_FIELDS = ("owner",)


def events_with_person_names(events: list[TimelineEvent]) -> list[TimelineEvent]:
    """Set `display_changes` on each event: its changes with user names shown as full names.

    Costs one query. A user without a full name, or a user name that no account has any
    more, is shown as stored.
    """
    usernames = {
        value
        for event in events
        for name in USER_CHANGE_FIELDS
        for value in (event.changes.get(name) or {}).values()
        if isinstance(value, str) and value
    }
    names = {}
    if usernames:
        for user in User.objects.filter(username__in=usernames):
            names[user.get_username()] = user.get_full_name() or user.get_username()

    for event in events:
        display_changes = {}
        for name, change in event.changes.items():
            if name in USER_CHANGE_FIELDS and isinstance(change, dict):
                change = {key: names.get(value, value) for key, value in change.items()}
            display_changes[name] = change
        event.display_changes = display_changes
    return events
