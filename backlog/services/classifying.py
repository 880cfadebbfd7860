"""Apply classification to stored entries and log the type changes on their timelines."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from backlog.classification import EntryFacts, classify
from backlog.models import BacklogEntry, TimelineEvent

from .bulk import update_in_bulk
from .demand import demand_figures
from .timeline import events_record_bulk


def facts_of(entry: BacklogEntry) -> EntryFacts:
    return EntryFacts(
        stage=entry.stage,
        ordered_at=entry.ordered_at,
        approved_at=entry.approved_at,
        handed_over_at=entry.handed_over_at,
        handover_due_at=entry.handover_due_at,
        promised_at=entry.promised_at,
        items_unavailable=entry.items_unavailable,
        intake_demand=entry.intake_demand or {},
    )


def entries_record_demand(entries: Sequence[BacklogEntry]) -> None:
    """Store each entry's intake figures, the facts behind the demand-driven signal."""
    thresholds = settings.CLASSIFICATION
    figures = demand_figures(entries, baseline_days=thresholds["surge_baseline_days"])
    for entry in entries:
        entry.intake_demand = figures.get(entry.pk, {})
    update_in_bulk(BacklogEntry, entries, ["intake_demand"])


def entries_classify(entries: Sequence[BacklogEntry], *, now: datetime) -> int:
    """Classify the entries as of `now`; return how many changed type or signals.

    Only a change in the type or in which signals fired goes on the timeline, because the
    values (hours late, say) move every time. Classification is a system write, so it does
    not bump the version that guards the fields staff edit.
    """
    thresholds = settings.CLASSIFICATION
    events = []
    for entry in entries:
        result = classify(facts_of(entry), now=now, thresholds=thresholds)
        old_signals = [reason["signal"] for reason in entry.classification_reasons or []]
        new_signals = [reason["signal"] for reason in result.reasons]
        if entry.classified_at is None or old_signals != new_signals or entry.backlog_type != result.backlog_type:
            events.append(
                TimelineEvent(
                    entry=entry,
                    at=now,
                    kind=TimelineEvent.Kind.CLASSIFIED,
                    changes={
                        "backlog_type": {"old": entry.backlog_type, "new": result.backlog_type},
                        "signals": {"old": old_signals, "new": new_signals},
                    },
                    reason="; ".join(reason["label"] for reason in result.reasons) or "No signal fired.",
                )
            )
        entry.backlog_type = result.backlog_type
        entry.classification_reasons = result.reasons
        entry.classified_at = now

    retyped = [event.entry_id for event in events if event.changes["backlog_type"]["old"] != event.changes["backlog_type"]["new"]]
    with transaction.atomic():
        update_in_bulk(BacklogEntry, entries, ["backlog_type", "classification_reasons", "classified_at"])
        events_record_bulk(events)
        if retyped:
            # Local import: the triage app builds on backlog. A new type can mean another
            # escalation policy, so the sweep computes these clocks again.
            from triage.services.clock import clocks_forget

            clocks_forget(retyped)
    return len(events)


# Entries re-classified per run of the periodic job. At about 0.1 ms each (an estimate from the
# Olist import's classify step), a batch stays well under a second of Python time.
RECLASSIFY_BATCH_SIZE = 2000


def entries_reclassify_stale(*, now: datetime, older_than: timedelta, batch_size: int = RECLASSIFY_BATCH_SIZE) -> int:
    """Re-classify the open entries whose classification is older than `older_than`.

    Time alone can fire a signal (an order now past its hand-over limit), and the triage
    cycle re-classifies only the entries it queues, so this job keeps the others current,
    least recently classified first. Their demand figures are recomputed first, because
    orders of the same day that arrived later (one by one through the API, say) raise the
    day's count after an entry was first classified. Rows locked by another transaction
    are skipped.
    """
    with transaction.atomic():
        entries = list(
            BacklogEntry.objects.open()
            .filter(Q(classified_at__isnull=True) | Q(classified_at__lt=now - older_than))
            .order_by(F("classified_at").asc(nulls_first=True), "id")
            .select_for_update(of=("self",), skip_locked=True)[:batch_size]
        )
        entries_record_demand(entries)
        entries_classify(entries, now=now)
    return len(entries)
