"""The 30-minute triage cycle: queue the oldest entries that still need a decision."""

import logging
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from backlog.models import BacklogEntry, TimelineEvent
from backlog.services.classifying import entries_classify
from backlog.services.timeline import events_record_bulk
from triage.models import CycleItem, TriageCycle, reasons_text

from .shifts import shift_on_duty
from .slots import slot_start_for

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CycleOutcome:
    slot_start: datetime
    ran: bool
    queued: int = 0
    cycle_id: int | None = None


def needs_triage(now: datetime) -> Q:
    """Match open entries lacking an owner, a method or an ETA, or whose ETA has passed."""
    return (
        Q(owner__isnull=True)
        | Q(resolution_method__isnull=True)
        | Q(due_at__isnull=True)
        | Q(due_at__lt=now)
    )


def item_reasons(entry: BacklogEntry, *, now: datetime) -> list[str]:
    reasons = []
    if entry.owner_id is None:
        reasons.append(CycleItem.Reason.UNOWNED.value)
    if entry.resolution_method_id is None:
        reasons.append(CycleItem.Reason.NO_METHOD.value)
    if entry.due_at is None:
        reasons.append(CycleItem.Reason.NO_ETA.value)
    elif entry.due_at < now:
        reasons.append(CycleItem.Reason.ETA_PASSED.value)
    return reasons


def cycle_run(*, now: datetime, batch_size: int | None = None) -> CycleOutcome:
    """Run the triage cycle of the slot containing `now`, once.

    The cycle row, its items, the re-classification of the queued entries and their timeline
    events are written in one transaction. A second run for the same slot, on this worker or
    another, hits the unique slot and does nothing; a worker killed midway leaves nothing
    behind, so the retried task starts clean.
    """
    slot_start = slot_start_for(now)
    batch_size = batch_size or settings.TRIAGE_CYCLE_BATCH_SIZE
    if TriageCycle.objects.filter(slot_start=slot_start).exists():
        logger.info("Triage cycle for slot %s already ran; skipping.", slot_start.isoformat())
        return CycleOutcome(slot_start=slot_start, ran=False)

    shift = shift_on_duty(slot_start)
    try:
        with transaction.atomic():
            cycle = TriageCycle.objects.create(
                slot_start=slot_start,
                shift=shift,
                lead=shift.lead if shift else None,
                support=shift.support if shift else None,
                started_at=now,
                batch_size=batch_size,
            )
            queued = _queue_entries(cycle, now=now, batch_size=batch_size)
            cycle.status = TriageCycle.Status.DONE
            cycle.finished_at = now
            cycle.save(update_fields=["status", "finished_at"])
    except IntegrityError:
        # Another worker created this slot's cycle between the check and the insert.
        logger.info("Triage cycle for slot %s is run by another worker; skipping.", slot_start.isoformat())
        return CycleOutcome(slot_start=slot_start, ran=False)

    if cycle.nobody_on_duty:
        logger.warning("Triage cycle for slot %s ran with nobody on duty.", slot_start.isoformat())
    logger.info(
        "Triage cycle for slot %s queued %d entries.", slot_start.isoformat(), queued
    )
    return CycleOutcome(slot_start=slot_start, ran=True, queued=queued, cycle_id=cycle.pk)


def _queue_entries(cycle: TriageCycle, *, now: datetime, batch_size: int) -> int:
    # The rows stay locked until the cycle commits, so a lead's decision or an import cannot
    # land between reading an entry and re-classifying it. Rows locked by another transaction
    # are skipped and join the next slot's queue.
    entries = list(
        BacklogEntry.objects.open()
        .filter(needs_triage(now), detected_at__lte=now)
        .order_by("detected_at", "id")
        .select_for_update(of=("self",), skip_locked=True)[:batch_size]
    )
    if not entries:
        return 0

    # Facts may have aged into a new signal (an order now past its hand-over limit, say).
    entries_classify(entries, now=now)

    items = []
    events = []
    for position, entry in enumerate(entries, start=1):
        reasons = item_reasons(entry, now=now)
        items.append(CycleItem(cycle=cycle, entry=entry, position=position, reasons=reasons))
        events.append(
            TimelineEvent(
                entry=entry,
                at=now,
                kind=TimelineEvent.Kind.TRIAGED,
                changes={"cycle": {"old": None, "new": cycle.slot_start.isoformat()}},
                reason=f"Queued for triage: {reasons_text(reasons)}",
            )
        )
    CycleItem.objects.bulk_create(items)
    events_record_bulk(events)
    return len(items)
