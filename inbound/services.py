"""Log inbound customer contacts; each one appends an event to its entry's timeline."""

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count

from backlog.models import BacklogEntry, TimelineEvent
from backlog.services.timeline import event_record, events_record_bulk

from .models import ContactChannel, InboundContact

logger = logging.getLogger(__name__)

# The words after "Customer contacted us" on the timeline, one per channel.
CHANNEL_PHRASES = {
    ContactChannel.EMAIL: "via email",
    ContactChannel.PHONE: "by phone",
    ContactChannel.CHAT: "via chat",
    ContactChannel.MARKETPLACE_MESSAGE: "via a marketplace message",
    ContactChannel.REVIEW: "via a review",
    ContactChannel.OTHER: "via another channel",
}


class ContactRejected(ValueError):
    """Raised when a contact cannot be logged; str() is the message for the user."""


@dataclass(frozen=True)
class ContactRow:
    """One contact read by an import, before it is written."""

    entry_id: int
    channel: str
    received_at: datetime
    note: str
    source: str
    external_ref: str


def contact_event_reason(channel: str) -> str:
    return f"Customer contacted us {CHANNEL_PHRASES[ContactChannel(channel)]}."


def contact_log(
    *,
    entry_id: int,
    channel: str,
    note: str,
    received_at: datetime,
    actor,
    now: datetime,
) -> InboundContact:
    """Store one contact with the entry's timeline event, in one transaction.

    Raise ContactRejected for an unknown channel or a contact received after `now` or before
    the order was placed, and
    BacklogEntry.DoesNotExist for an unknown entry.
    """
    if channel not in ContactChannel.values:
        raise ContactRejected(
            f"Unknown channel {channel!r}: expected one of {', '.join(ContactChannel.values)}."
        )
    if received_at > now:
        raise ContactRejected(
            f"The contact's time {received_at.isoformat()} is in the future; "
            "enter when the customer contacted us."
        )

    with transaction.atomic():
        # The lock serialises loggers of one entry, so the counts on the timeline never repeat.
        entry = BacklogEntry.objects.select_for_update().get(pk=entry_id)
        if received_at < entry.ordered_at:
            raise ContactRejected(
                f"The contact's time {received_at.isoformat()} is before the order was placed "
                f"({entry.ordered_at.isoformat()}); enter when the customer contacted us."
            )
        count = InboundContact.objects.filter(entry=entry).count()
        contact = InboundContact.objects.create(
            entry=entry, channel=channel, received_at=received_at, note=note, logged_by=actor
        )
        event_record(
            entry,
            kind=TimelineEvent.Kind.CONTACT,
            at=now,
            actor=actor,
            changes={"contacts": {"old": count, "new": count + 1}},
            reason=contact_event_reason(channel),
        )
    logger.info("Contact %s logged on entry %s via %s.", contact.pk, entry_id, channel)
    return contact


def contacts_import(rows: Sequence[ContactRow], *, now: datetime, reason_suffix: str = "") -> int:
    """Insert the imported contacts that are not stored yet, with one timeline event each.

    A row whose (source, external_ref) is already stored is left alone, so a re-import adds
    nothing. Return the number of contacts created. The caller must run it inside a transaction.
    """
    stored = _stored_refs(rows)
    new_rows = sorted(
        (row for row in rows if (row.source, row.external_ref) not in stored),
        key=lambda row: (row.entry_id, row.received_at, row.external_ref),
    )
    if not new_rows:
        return 0

    entry_ids = {row.entry_id for row in new_rows}
    # Lock the entries in pk order, as contact_log does one at a time, then count once per entry.
    list(BacklogEntry.objects.select_for_update().filter(pk__in=entry_ids).order_by("pk").values_list("pk"))
    counts = defaultdict(
        int,
        InboundContact.objects.filter(entry_id__in=entry_ids)
        .values("entry_id")
        .annotate(count=Count("pk"))
        .values_list("entry_id", "count"),
    )

    contacts = []
    events = []
    for row in new_rows:
        old = counts[row.entry_id]
        counts[row.entry_id] = old + 1
        contacts.append(
            InboundContact(
                entry_id=row.entry_id,
                channel=row.channel,
                received_at=row.received_at,
                note=row.note,
                source=row.source,
                external_ref=row.external_ref,
            )
        )
        events.append(
            TimelineEvent(
                entry_id=row.entry_id,
                kind=TimelineEvent.Kind.CONTACT,
                at=now,
                changes={"contacts": {"old": old, "new": old + 1}},
                reason=contact_event_reason(row.channel) + reason_suffix,
            )
        )
    InboundContact.objects.bulk_create(contacts, batch_size=1000)
    events_record_bulk(events)
    return len(contacts)


def _stored_refs(rows: Sequence[ContactRow]) -> set[tuple[str, str]]:
    by_source = defaultdict(set)
    for row in rows:
        by_source[row.source].add(row.external_ref)
    stored = set()
    for source, refs in by_source.items():
        refs = list(refs)
        # Chunks keep the IN list under SQLite's limit of bound parameters.
        for start in range(0, len(refs), 900):
            stored.update(
                InboundContact.objects.filter(
                    source=source, external_ref__in=refs[start : start + 900]
                ).values_list("source", "external_ref")
            )
    return stored
