"""State changes of a single backlog entry made by staff."""

from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from backlog.models import OPEN_STATUSES, BacklogEntry, Status, TimelineEvent

from .timeline import diff_fields, event_record

User = get_user_model()

# Timeline kinds whose changes bump the entry's version. Classification and queueing for
# triage leave it alone, so they never make an edit stale.
VERSION_CHANGING_KINDS = (
    TimelineEvent.Kind.UPDATED,
    TimelineEvent.Kind.ASSIGNED,
    TimelineEvent.Kind.STATUS,
)


class StaleEntryError(Exception):
    """Raised when an edit is based on another version of the entry than the one stored.

    str() is the message for API clients, which identify people by user name. page_message()
    is the message for a page or a dashboard row that shows the stored values again.
    """

    def __init__(
        self, entry: BacklogEntry, last_event: TimelineEvent | None, *, expected_version: int
    ) -> None:
        self.entry = entry
        self.expected_version = expected_version
        self.actor = last_event.actor if last_event is not None else None
        self.changed_at = last_event.at if last_event is not None else None
        actor_name = self.actor.get_username() if self.actor is not None else "the system"
        super().__init__(
            self._describe(actor_name)
            + " Read the entry again, and send your change with its current version if it still holds."
        )

    @property
    def version_invalid(self) -> bool:
        """Tell whether the edit names a version newer than the stored one, which no page sends."""
        return self.expected_version > self.entry.version

    def page_message(self, shown_in: str) -> str:
        """Return the message for a person whose `shown_in` ("row" or "page") now shows the stored values."""
        if self.version_invalid:
            return self._describe("")
        actor_name = "the system"
        if self.actor is not None:
            actor_name = self.actor.get_full_name() or self.actor.get_username()
        return (
            f"{self._describe(actor_name)} The {shown_in} now shows their values. "
            "Apply your change again if it still holds."
        )

    def _describe(self, actor_name: str) -> str:
        reference = self.entry.reference
        if self.version_invalid:
            return (
                f"Version {self.expected_version} of {reference} is invalid: "
                f"the stored version is {self.entry.version}."
            )
        if self.changed_at is None:
            return f"{reference} was changed by {actor_name} after you loaded it."
        # Pages show times in the site's zone, so the message does too, with the zone's abbreviation.
        at = timezone.localtime(self.changed_at)
        return f"{reference} was changed by {actor_name} at {at:%Y-%m-%d %H:%M %Z} after you loaded it."


class EntryClosedError(Exception):
    """Raised when a triage decision targets an entry that is no longer open."""


PAST_ETA_MESSAGE = "The ETA %(value)s is in the past. Pick a later time."


class InvalidDecisionError(ValueError):
    """Raised when a decision breaks a rule that the form and the API also check."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def past_eta_problem(value: datetime | None, *, current: datetime | None, now: datetime) -> str | None:
    """Return why a new ETA is rejected, or None when it is allowed.

    An ETA in the past is rejected unless it is the stored one (to the minute, as the
    dashboard's input shows minutes), which may have passed since it was set.
    """
    if value is None or value >= now:
        return None
    if current is not None and value.replace(second=0, microsecond=0) == current.replace(second=0, microsecond=0):
        return None
    local = timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    return PAST_ETA_MESSAGE % {"value": local}


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

        if "due_at" in decision.fields:
            problem = past_eta_problem(decision.due_at, current=entry.due_at, now=now)
            if problem:
                raise InvalidDecisionError("due_at", problem)

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
        _mark_cycle_item_decided(entry, changes=changes, now=now)
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
        _record_pause(entry, old_status=entry.status, new_status=status, now=now)
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
    """Lock the entry's row until the transaction ends, or raise if its version is not `expected_version`."""
    entry = BacklogEntry.objects.select_for_update().get(pk=entry_id)
    if entry.version != expected_version:
        last_event = (
            entry.events.filter(kind__in=VERSION_CHANGING_KINDS)
            .select_related("actor")
            .order_by("-at", "-id")
            .first()
        )
        raise StaleEntryError(entry, last_event, expected_version=expected_version)
    return entry


def _record_pause(entry: BacklogEntry, *, old_status: str, new_status: str, now: datetime) -> None:
    """Start or end the entry's pause, and drop its escalation clock so the sweep recomputes it."""
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import EntryPause
    from triage.services.clock import clocks_forget

    paused = set(settings.ESCALATION_PAUSED_STATUSES)
    if new_status in paused and old_status not in paused:
        EntryPause.objects.create(entry=entry, started_at=now)
    elif old_status in paused and new_status not in paused:
        EntryPause.objects.filter(entry=entry, ended_at__isnull=True).update(ended_at=now)
    clocks_forget([entry.pk])


def _mark_cycle_item_decided(entry: BacklogEntry, *, changes: dict, now: datetime) -> None:
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import CycleItem

    CycleItem.objects.filter(entry=entry, decided_at__isnull=True).update(decided_at=now, decision=changes)
