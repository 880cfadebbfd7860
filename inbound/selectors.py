"""Read inbound contacts: an entry's list and the repeat-contact figures of a set of entries."""

from dataclasses import dataclass

from django.db.models import Count, Expression, F, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from backlog.models import BacklogEntry, TimelineEvent

from .models import InboundContact


@dataclass(frozen=True)
class ContactFigures:
    """Repeat-contact figures of a set of entries.

    The before/after fields are None when no reference time was given. A contact counts as
    "before" when it was received strictly before its entry's reference time, and as
    "after" at or after it. Only entries that have a reference time and at least one
    contact are in the before/after denominator.
    """

    entries: int
    entries_with_contacts: int
    contacts: int
    repeat_entries: int
    entries_with_reference: int | None = None
    contacts_before: int | None = None
    contacts_after: int | None = None

    @property
    def contacts_per_entry(self) -> float | None:
        """Contacts per entry that has at least one contact."""
        return _ratio(self.contacts, self.entries_with_contacts)

    @property
    def repeat_share(self) -> float | None:
        """Share of contacted entries with two or more contacts."""
        return _ratio(self.repeat_entries, self.entries_with_contacts)

    @property
    def contacts_per_entry_before(self) -> float | None:
        return _ratio(self.contacts_before, self.entries_with_reference)

    @property
    def contacts_per_entry_after(self) -> float | None:
        return _ratio(self.contacts_after, self.entries_with_reference)


def _ratio(numerator: int | None, denominator: int | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def first_event_at(kind: str) -> Subquery:
    """Return, per entry, the time of its first timeline event of `kind` (NULL if none)."""
    return Subquery(
        TimelineEvent.objects.filter(entry=OuterRef("pk"), kind=kind)
        .order_by()
        .values("entry")
        .annotate(first=Min("at"))
        .values("first")[:1]
    )


def first_triage_or_detection_at() -> Expression:
    """Return, per entry, its first "queued for triage" event, or its detection time without one.

    For history imported without customer updates, such as the Olist reviews.
    """
    return Coalesce(first_event_at(TimelineEvent.Kind.TRIAGED), F("detected_at"))


def first_customer_update_at() -> Subquery:
    """Return, per entry, when its first customer update was queued (NULL if none)."""
    # Local import: comms builds on backlog and inbound reads it only for this reference.
    from comms.models import CustomerUpdate

    return Subquery(
        CustomerUpdate.objects.filter(entry=OuterRef("pk"), status=CustomerUpdate.Status.QUEUED)
        .order_by("created_at")
        .values("created_at")[:1]
    )


def contact_figures(
    entries: QuerySet[BacklogEntry], *, updates_at: Expression | None = None
) -> ContactFigures:
    """Compute the repeat-contact figures of `entries` in one grouped query.

    `updates_at` is an expression evaluated per entry, such as first_event_at("triaged"),
    that splits each entry's contacts into before and after it.
    """
    per_entry = entries.order_by()
    if updates_at is not None:
        per_entry = per_entry.annotate(reference_at=updates_at)
    per_entry = per_entry.annotate(contact_count=Count("inbound_contacts"))
    aggregates = {
        "entries": Count("pk"),
        "entries_with_contacts": Count("pk", filter=Q(contact_count__gte=1)),
        "contacts": Coalesce(Sum("contact_count"), 0),
        "repeat_entries": Count("pk", filter=Q(contact_count__gte=2)),
    }
    if updates_at is not None:
        per_entry = per_entry.annotate(
            before_count=Count(
                "inbound_contacts",
                filter=Q(inbound_contacts__received_at__lt=F("reference_at")),
            ),
            after_count=Count(
                "inbound_contacts",
                filter=Q(inbound_contacts__received_at__gte=F("reference_at")),
            ),
        )
        with_reference = Q(reference_at__isnull=False, contact_count__gte=1)
        aggregates.update(
            entries_with_reference=Count("pk", filter=with_reference),
            contacts_before=Coalesce(Sum("before_count", filter=with_reference), 0),
            contacts_after=Coalesce(Sum("after_count", filter=with_reference), 0),
        )
    return ContactFigures(**per_entry.aggregate(**aggregates))


def entry_contacts(entry_id: int) -> QuerySet[InboundContact]:
    return InboundContact.objects.filter(entry_id=entry_id).select_related("logged_by")
