"""State changes of a single backlog entry made by staff."""

from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F

from backlog.models import OPEN_STATUSES, BacklogEntry, Status, TimelineEvent

from .timeline import diff_fields, event_record

User = get_user_model()

STALE_ENTRY_MESSAGE = (
    "{reference} was changed by {actor} at {at} after you loaded it. "
    "Reload to see their change, then apply yours again."
)


class StaleEntryError(Exception):
    """Raised when an edit is based on an older version than the one stored."""

    def __init__(self, entry: BacklogEntry, last_event: TimelineEvent | None) -> None:
        actor = "the system"
        at = "an unknown time"
        if last_event is not None:
            actor = str(last_event.actor) if last_event.actor else "the system"
            at = f"{last_event.at:%Y-%m-%d %H:%M} UTC"
        super().__init__(STALE_ENTRY_MESSAGE.format(reference=entry.reference, actor=actor, at=at))
        self.entry = entry


class EntryClosedError(Exception):
    """Raised when a triage decision targets an entry that is no longer open."""


# Marks a field the caller does not want to change, so that None can mean "clear it".
UNCHANGED = object()


@dataclass
class TriageDecision:
    """Owner, resolution method and ETA as a lead sets them; UNCHANGED fields stay as they are."""

    owner: object = UNCHANGED
    resolution_method: object = UNCHANGED
    due_at: object = UNCHANGED
    note: object = UNCHANGED
    reason: str = ""
    fields: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.fields = [
            name
            for name in ("owner", "resolution_method", "due_at", "note")
            if getattr(self, name) is not UNCHANGED
        ]


def entry_decide(
    *,
    entry_id: int,
    expected_version: int,
    decision: TriageDecision,
    actor: User,
    now: datetime,
) -> BacklogEntry:
    """Apply a lead's triage decision to an open entry, rejecting a stale edit.

    The row is locked, its version compared with the one the user loaded, and the change,
    the version bump and the timeline event are written in one transaction.
    """
    with transaction.atomic():
        entry = _lock_at_version(entry_id, expected_version)
        if entry.status not in OPEN_STATUSES:
            raise EntryClosedError(f"{entry.reference} is {entry.get_status_display().lower()}.")

        old = {name: getattr(entry, name) for name in decision.fields}
        for name in decision.fields:
            setattr(entry, name, getattr(decision, name))
        new = {name: getattr(entry, name) for name in decision.fields}
        changes = diff_fields(old, new)
        if not changes:
            return entry

        entry.version = F("version") + 1
        entry.save(update_fields=[*decision.fields, "version", "updated_at"])
        entry.refresh_from_db(fields=["version"])
        event_record(
            entry,
            kind=TimelineEvent.Kind.ASSIGNED,
            at=now,
            actor=actor,
            changes=changes,
            reason=decision.reason,
        )
        _mark_cycle_item_decided(entry, now=now)
    return entry


def entry_set_status(
    *,
    entry_id: int,
    expected_version: int,
    status: str,
    actor: User,
    now: datetime,
    reason: str = "",
) -> BacklogEntry:
    """Move an entry to another status; closing stamps closed-at, reopening clears it."""
    with transaction.atomic():
        entry = _lock_at_version(entry_id, expected_version)
        if entry.status == status:
            return entry

        old = {"status": entry.status, "closed_at": entry.closed_at}
        entry.status = status
        entry.closed_at = now if status in (Status.RESOLVED, Status.CLOSED) else None
        entry.version = F("version") + 1
        entry.save(update_fields=["status", "closed_at", "version", "updated_at"])
        entry.refresh_from_db(fields=["version"])
        event_record(
            entry,
            kind=TimelineEvent.Kind.STATUS,
            at=now,
            actor=actor,
            changes=diff_fields(old, {"status": entry.status, "closed_at": entry.closed_at}),
            reason=reason,
        )
    return entry


def _lock_at_version(entry_id: int, expected_version: int) -> BacklogEntry:
    """Lock the entry's row until the transaction ends, or raise if it moved past the version."""
    entry = BacklogEntry.objects.select_for_update().get(pk=entry_id)
    if entry.version != expected_version:
        last_event = entry.events.select_related("actor").order_by("-at", "-id").first()
        raise StaleEntryError(entry, last_event)
    return entry


def _mark_cycle_item_decided(entry: BacklogEntry, *, now: datetime) -> None:
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import CycleItem

    CycleItem.objects.filter(entry=entry, decided_at__isnull=True).update(decided_at=now)
