"""Create or update entries by (source, external reference) in a few set-based queries.

`entries_upsert` is the one write path of every intake: file imports and, later, the API.
It loads the stored entries of a batch with one query per chunk of keys, compares them in
memory, then writes new entries, changed fields, replaced lines and timeline events in
bulk, all in one transaction.
"""

import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction

from backlog.models import (
    OPEN_STATUSES,
    BacklogEntry,
    Channel,
    EntryLine,
    ResolutionMethod,
    Stage,
    Status,
    TimelineEvent,
)
from backlog.services.bulk import chunks, update_in_bulk
from backlog.services.classifying import entries_classify, entries_record_demand
from backlog.services.timeline import diff_fields, events_record_bulk

from .rows import CLOSED_STATUSES, ENTRY_FIELDS, EntryRow, LineRow, stage_from_timestamps

logger = logging.getLogger(__name__)

# Fields staff change on an existing entry: status (with its pauses), note and resolution
# method. An import states them for new entries only; it still closes an open entry whose
# order was delivered.
STAFF_FIELDS = frozenset({"status", "note", "resolution_method_id", "closed_at"})

# Rows per INSERT statement.
WRITE_BATCH_SIZE = 1000
PROGRESS_FIELDS = ("approved_at", "handed_over_at", "delivered_at")
# Foreign keys shown on the timeline by their code rather than their id.
DISPLAYED_AS_CODE = {
    "channel_id": ("channel", Channel),
    "resolution_method_id": ("resolution_method", ResolutionMethod),
}


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Entries created or updated, as stored after the write.
    touched: list[BacklogEntry] = field(default_factory=list)
    # Seconds spent per step, for the command's output.
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class EntryChange:
    entry: BacklogEntry
    fields: set[str]
    # {"field": {"old", "new"}} as the timeline stores it.
    changes: dict[str, dict[str, Any]]
    # The lines to store instead of the current ones, or None when they stay.
    lines: list[LineRow] | None


@dataclass
class UpsertPlan:
    """The writes an upsert would make. Computing them reads the database and writes nothing."""

    source: str
    new: list[tuple[BacklogEntry, list[LineRow]]] = field(default_factory=list)
    changed: list[EntryChange] = field(default_factory=list)
    unchanged: int = 0

    def counts(self) -> UpsertCounts:
        return UpsertCounts(
            created=len(self.new), updated=len(self.changed), unchanged=self.unchanged
        )


def entries_upsert(
    rows: Sequence[EntryRow],
    *,
    source: str,
    actor=None,
    now: datetime,
    reason: str = "",
    classify_at: datetime | None = None,
) -> UpsertCounts:
    """Create or update one entry per row, then record demand and classify what changed.

    Re-sending the same rows changes nothing and writes no event. `classify_at` is the
    time classification is computed for, and defaults to `now`. An import as of a past
    time passes that time. Unchanged entries are not re-classified.
    """
    with transaction.atomic():
        started = time.monotonic()
        plan = upsert_plan(rows, source=source, now=now, lock=True)
        counts = plan_apply(plan, actor=actor, now=now, reason=reason)
        counts.timings["upsert"] = round(time.monotonic() - started, 3)
        if counts.touched:
            started = time.monotonic()
            entries_record_demand(counts.touched)
            open_entries = [entry for entry in counts.touched if entry.status in OPEN_STATUSES]
            entries_classify(open_entries, now=classify_at or now)
            counts.timings["classify"] = round(time.monotonic() - started, 3)
    logger.info(
        "Upsert into source %s: %d created, %d updated, %d unchanged.",
        source,
        counts.created,
        counts.updated,
        counts.unchanged,
    )
    return counts


def upsert_plan(
    rows: Sequence[EntryRow], *, source: str, now: datetime, lock: bool = False
) -> UpsertPlan:
    """Compare the rows with the stored entries and return what an upsert would write.

    With `lock`, the stored entries are locked until the transaction ends, so a staff edit
    cannot slip in between the comparison and the write.
    """
    _check_unique_refs(rows)
    stored = _load_entries(source, [row.external_ref for row in rows], lock=lock)
    stored_lines = _load_lines([entry.pk for entry in stored.values()])
    codes = _CodeLabels()

    plan = UpsertPlan(source=source)
    for row in rows:
        entry = stored.get(row.external_ref)
        if entry is None:
            plan.new.append((_new_entry(row, source=source, now=now), row.lines or []))
            continue
        change = _entry_change(entry, row, stored_lines.get(entry.pk, []), now=now, codes=codes)
        if change is None:
            plan.unchanged += 1
        else:
            plan.changed.append(change)
    return plan


def plan_apply(plan: UpsertPlan, *, actor=None, now: datetime, reason: str = "") -> UpsertCounts:
    """Write a plan: insert new entries, update changed ones, replace lines, log events."""
    new_entries = [entry for entry, _ in plan.new]
    # PostgreSQL and SQLite both return the new primary keys from a bulk insert.
    BacklogEntry.objects.bulk_create(new_entries, batch_size=WRITE_BATCH_SIZE)

    changed_entries = [change.entry for change in plan.changed]
    if changed_entries:
        update_fields = sorted(set().union(*(change.fields for change in plan.changed)))
        update_in_bulk(BacklogEntry, changed_entries, [*update_fields, "version", "updated_at"])
        _settle_escalation_state(plan.changed, now=now)

    relined = [change for change in plan.changed if change.lines is not None]
    for chunk in chunks([change.entry.pk for change in relined]):
        EntryLine.objects.filter(entry_id__in=chunk).delete()
    lines = [
        *_line_objects((entry, entry_lines) for entry, entry_lines in plan.new),
        *_line_objects((change.entry, change.lines) for change in relined),
    ]
    EntryLine.objects.bulk_create(lines, batch_size=WRITE_BATCH_SIZE)

    created_reason = reason or f"Created by an import into source {plan.source}."
    updated_reason = reason or f"Updated by an import into source {plan.source}."
    events = [
        TimelineEvent(
            entry=entry, at=now, actor=actor, kind=TimelineEvent.Kind.CREATED, reason=created_reason
        )
        for entry in new_entries
    ]
    events += [
        TimelineEvent(
            entry=change.entry,
            at=now,
            actor=actor,
            kind=TimelineEvent.Kind.UPDATED,
            changes=change.changes,
            reason=updated_reason,
        )
        for change in plan.changed
    ]
    events_record_bulk(events)

    return UpsertCounts(
        created=len(new_entries),
        updated=len(changed_entries),
        unchanged=plan.unchanged,
        touched=[*new_entries, *changed_entries],
    )


def _settle_escalation_state(changes: Sequence["EntryChange"], *, now: datetime) -> None:
    """End the pause of entries an import closed, and drop the clocks of every changed entry.

    A new channel, detection time or status can move an entry's due times, so the next
    sweep computes them again from the stored facts.
    """
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import EntryPause
    from triage.services.clock import clocks_forget

    closed = [change.entry.pk for change in changes if "status" in change.fields and change.entry.status not in OPEN_STATUSES]
    for chunk in chunks(closed):
        EntryPause.objects.filter(entry_id__in=chunk, ended_at__isnull=True).update(ended_at=now)
    for chunk in chunks([change.entry.pk for change in changes]):
        clocks_forget(chunk)


def _check_unique_refs(rows: Sequence[EntryRow]) -> None:
    seen: set[str] = set()
    for row in rows:
        if row.external_ref in seen:
            raise ValueError(
                f"External reference {row.external_ref!r} appears twice in one upsert."
            )
        seen.add(row.external_ref)


def _load_entries(source: str, refs: Sequence[str], *, lock: bool) -> dict[str, BacklogEntry]:
    stored: dict[str, BacklogEntry] = {}
    if not lock:
        for chunk in chunks(refs):
            stored.update(
                (entry.external_ref, entry)
                for entry in BacklogEntry.objects.filter(source=source, external_ref__in=chunk)
            )
        return stored

    # Rows are locked in ascending primary-key order across all chunks, so two imports
    # that touch the same entries wait for each other instead of deadlocking.
    primary_keys = sorted(
        pk
        for chunk in chunks(refs)
        for pk in BacklogEntry.objects.filter(source=source, external_ref__in=chunk).values_list(
            "pk", flat=True
        )
    )
    for chunk in chunks(primary_keys):
        query = BacklogEntry.objects.filter(pk__in=chunk).order_by("pk").select_for_update()
        stored.update((entry.external_ref, entry) for entry in query)
    return stored


def _load_lines(entry_ids: Sequence[int]) -> dict[int, list[LineRow]]:
    lines: dict[int, list[LineRow]] = defaultdict(list)
    for chunk in chunks(entry_ids):
        query = (
            EntryLine.objects.filter(entry_id__in=chunk)
            .order_by("entry_id", "line_number")
            .values_list("entry_id", "sku", "quantity", "category", "seller", "unit_price")
        )
        for entry_id, sku, quantity, category, seller, unit_price in query:
            lines[entry_id].append(LineRow(sku, quantity, category, seller, unit_price))
    return lines


def _line_objects(groups: Iterable[tuple[BacklogEntry, list[LineRow]]]) -> list[EntryLine]:
    return [
        EntryLine(
            entry=entry,
            line_number=number,
            sku=line.sku,
            quantity=line.quantity,
            category=line.category,
            seller=line.seller,
            unit_price=line.unit_price,
        )
        for entry, lines in groups
        for number, line in enumerate(lines, start=1)
    ]


def _new_entry(row: EntryRow, *, source: str, now: datetime) -> BacklogEntry:
    target: dict[str, Any] = {
        "channel_id": None,
        "customer_name": "",
        "customer_email": "",
        "region": "",
        # An order without a purchase time counts from its intake.
        "ordered_at": now,
        "approved_at": None,
        "handed_over_at": None,
        "delivered_at": None,
        "handover_due_at": None,
        "promised_at": None,
        "items_unavailable": False,
        "detected_at": None,
        "stage": None,
        "status": Status.OPEN.value,
        "closed_at": None,
        "resolution_method_id": None,
        "note": "",
    }
    target.update(row.values)
    if target["channel_id"] is None:
        raise ValueError(f"Entry {row.external_ref!r} has no channel.")
    _derive(target, provided=set(row.values), is_new=True, now=now)
    return BacklogEntry(source=source, external_ref=row.external_ref, **target)


def _entry_change(
    entry: BacklogEntry,
    row: EntryRow,
    stored_lines: list[LineRow],
    *,
    now: datetime,
    codes: "_CodeLabels",
) -> EntryChange | None:
    current = {name: getattr(entry, name) for name in ENTRY_FIELDS}
    # Staff own these fields once an entry exists; a file sets them only on new entries.
    stated = {name: value for name, value in row.values.items() if name not in STAFF_FIELDS}
    target = {**current, **stated}
    _derive(target, provided=set(stated), is_new=False, now=now)

    fields = {name for name in ENTRY_FIELDS if target[name] != current[name]}
    lines_changed = row.lines is not None and [line.as_tuple() for line in row.lines] != [
        line.as_tuple() for line in stored_lines
    ]
    if not fields and not lines_changed:
        return None

    changes = codes.display(
        diff_fields(
            {name: current[name] for name in fields}, {name: target[name] for name in fields}
        )
    )
    if lines_changed:
        changes["lines"] = {"old": _lines_text(stored_lines), "new": _lines_text(row.lines or [])}
    for name in fields:
        setattr(entry, name, target[name])
    entry.version += 1
    entry.updated_at = now
    return EntryChange(
        entry=entry, fields=fields, changes=changes, lines=row.lines if lines_changed else None
    )


def _derive(target: dict[str, Any], *, provided: set[str], is_new: bool, now: datetime) -> None:
    """Fill the fields the source left to the rules: detection time, stage, closing.

    - detected_at follows ordered_at, because age counts from the purchase.
    - The stage follows the progress timestamps, on a new entry or when the source states
      any of them. A row without progress timestamps leaves the stage alone.
    - A delivered entry still open is closed; closed-at is the delivery time, or `now`
      when the source closes an entry without one. Reopening clears closed-at.
    """
    if "detected_at" not in provided and (
        "ordered_at" in provided or target["detected_at"] is None
    ):
        target["detected_at"] = target["ordered_at"]

    if "stage" not in provided and (is_new or provided & set(PROGRESS_FIELDS)):
        target["stage"] = stage_from_timestamps(
            approved_at=target["approved_at"],
            handed_over_at=target["handed_over_at"],
            delivered_at=target["delivered_at"],
        )

    if (
        "status" not in provided
        and target["stage"] == Stage.DELIVERED
        and target["status"] in OPEN_STATUSES
    ):
        target["status"] = Status.CLOSED.value

    if "closed_at" not in provided:
        if target["status"] not in CLOSED_STATUSES:
            target["closed_at"] = None
        elif target["closed_at"] is None:
            target["closed_at"] = target["delivered_at"] or now


def _lines_text(lines: list[LineRow]) -> str:
    return "; ".join(str(line) for line in lines)


class _CodeLabels:
    """Shows channel and resolution method ids as their codes on the timeline."""

    def __init__(self) -> None:
        self._codes: dict[str, dict[int, str]] = {}

    def display(self, changes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        displayed = {}
        for name, change in changes.items():
            if name in DISPLAYED_AS_CODE:
                label, model = DISPLAYED_AS_CODE[name]
                codes = self._codes_of(name, model)
                change = {
                    "old": codes.get(change["old"], change["old"]),
                    "new": codes.get(change["new"], change["new"]),
                }
                name = label
            displayed[name] = change
        return displayed

    def _codes_of(self, name: str, model) -> dict[int, str]:
        if name not in self._codes:
            self._codes[name] = dict(model.objects.values_list("pk", "code"))
        return self._codes[name]
