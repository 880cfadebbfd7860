"""Append events to entries' timelines; every state change goes through here."""

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from backlog.models import BacklogEntry, TimelineEvent


def display_value(value: Any) -> Any:
    """Turn a field value into what the timeline stores: JSON-safe and readable."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    # Decimals, users, channels and other model instances are stored as their text.
    return str(value)


def diff_fields(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Return {field: {"old", "new"}} for each field whose value differs."""
    changes = {}
    for name, new_value in new.items():
        old_value = old.get(name)
        if old_value != new_value:
            changes[name] = {"old": display_value(old_value), "new": display_value(new_value)}
    return changes


def event_record(
    entry: BacklogEntry,
    *,
    kind: str,
    at: datetime,
    actor=None,
    changes: dict[str, dict[str, Any]] | None = None,
    reason: str = "",
) -> TimelineEvent:
    return TimelineEvent.objects.create(
        entry=entry, kind=kind, at=at, actor=actor, changes=changes or {}, reason=reason
    )


def events_record_bulk(events: Iterable[TimelineEvent]) -> None:
    """Insert many events at once, for imports and sweeps that touch many entries."""
    TimelineEvent.objects.bulk_create(events, batch_size=1000)
