"""Customer updates: sending one stage's update for an entry, and the cadence that sends them on time.

Each update renders the active template into the outbox in the transaction that records it,
so the outbox worker delivers it afterwards. An update that cannot be rendered is stored as
held, with what is missing, and flagged on the entry's timeline instead of being queued.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, DurationField, Exists, ExpressionWrapper, F, OuterRef, Q, Subquery, Value

from backlog.models import OPEN_STATUSES, BacklogEntry, TimelineEvent, format_reference
from backlog.models import Status as EntryStatus
from backlog.services.timeline import event_record
from comms.models import CustomerUpdate, MessageStage, MessageTemplate, OutboxMessage
from comms.services.outbox import OutboxDraft, outbox_enqueue
from comms.services.templates import (
    CUSTOMER_VISIBLE_KINDS,
    TIMELINE_STEPS,
    HeldMessage,
    RenderedMessage,
    format_timeline,
    render_update,
    template_for,
)

logger = logging.getLogger(__name__)

CLOSED_ENTRY_STATUSES = (EntryStatus.RESOLVED, EntryStatus.CLOSED)
# Entries one cadence run handles at most per stage; the rest wait for the next run.
CADENCE_BATCH_SIZE = 200
MISSING_EMAIL = "customer_email"


class UpdateRejected(ValueError):
    """Rejection of an update request, with a message that explains why and what to do instead."""


@dataclass(frozen=True)
class UpdatePreview:
    """Preview of a stage's update: the rendered message, or the reason it would be held."""

    stage: str
    rendered: RenderedMessage | None
    held_reason: str
    # The update a send would repeat, which then needs a reason.
    earlier: CustomerUpdate | None


def update_preview(*, entry: BacklogEntry, stage: str, now: datetime) -> UpdatePreview:
    """Render the stage's update for `entry` without storing anything."""
    _check_stage(stage)
    outcome = _render(entry, stage, now=now)
    earlier = _latest_update(entry.pk, stage)
    if isinstance(outcome, RenderedMessage):
        return UpdatePreview(stage=stage, rendered=outcome, held_reason="", earlier=earlier)
    return UpdatePreview(stage=stage, rendered=None, held_reason=outcome.reason, earlier=earlier)


def update_send(
    *, entry_id: int, stage: str, actor: AbstractBaseUser | None, now: datetime, resend_reason: str = ""
) -> CustomerUpdate:
    """Render the stage's update for the entry and queue it in the outbox, or store it as held.

    Raise UpdateRejected when the stage was sent before and no `resend_reason` is given, or
    when a reason is given but there is nothing to re-send, and BacklogEntry.DoesNotExist for
    an unknown entry. An earlier update that was held may be sent again without a reason.
    """
    _check_stage(stage)
    resend_reason = resend_reason.strip()
    stage_label = MessageStage(stage).label.lower()

    with transaction.atomic():
        # The lock serialises senders of one entry, so the numbering and the one-first-update rule hold.
        entry = BacklogEntry.objects.select_for_update().get(pk=entry_id)
        earlier = _latest_update(entry.pk, stage)
        reason = _resend_reason(entry, stage, stage_label, earlier, resend_reason)

        template = template_for(entry, stage)
        outcome = _render(entry, stage, now=now, template=template)
        update = CustomerUpdate(
            entry=entry,
            stage=stage,
            template=template,
            template_version=template.version if template else None,
            resend_of=earlier,
            created_by=actor if actor is not None and actor.is_authenticated else None,
            created_at=now,
        )
        if isinstance(outcome, RenderedMessage):
            number = CustomerUpdate.objects.filter(entry=entry, stage=stage).count() + 1
            update.status = CustomerUpdate.Status.QUEUED
            update.reason = reason
            update.outbox_message = _enqueue(entry, stage, number, outcome, now=now)
            event_reason = f"Customer update queued: {stage}"
        else:
            update.status = CustomerUpdate.Status.HELD
            update.reason = outcome.reason
            event_reason = f"Customer update held: missing {', '.join(outcome.missing)}"
            if reason:
                # Keep the re-send reason too, because the row has only one reason field.
                update.reason = f"{outcome.reason} (re-send: {reason})"
        update.save()

        event_record(
            entry,
            kind=TimelineEvent.Kind.UPDATED,
            at=now,
            actor=update.created_by,
            changes={f"{stage} update": {"old": earlier.status if earlier else "", "new": update.status}},
            reason=f"{event_reason}. Re-sent because: {reason}" if reason else event_reason,
        )

    logger.info(
        "Customer update %s of entry %s at stage %s stored as %s (%s).",
        update.pk,
        entry_id,
        stage,
        update.status,
        update.reason or "first send",
    )
    return update


def update_skip(*, entry_id: int, stage: str, reason: str, now: datetime) -> CustomerUpdate | None:
    """Record that the stage's update will not be sent; return None when the stage has an update already."""
    _check_stage(stage)
    with transaction.atomic():
        entry = BacklogEntry.objects.select_for_update().get(pk=entry_id)
        if CustomerUpdate.objects.filter(entry=entry, stage=stage).exists():
            return None
        update = CustomerUpdate.objects.create(
            entry=entry, stage=stage, status=CustomerUpdate.Status.SKIPPED, reason=reason, created_at=now
        )
        event_record(
            entry,
            kind=TimelineEvent.Kind.UPDATED,
            at=now,
            changes={f"{stage} update": {"old": "", "new": update.status}},
            reason=f"Customer update skipped: {stage} ({reason})",
        )
    logger.info("Customer update of entry %s at stage %s skipped: %s", entry_id, stage, reason)
    return update


def _check_stage(stage: str) -> None:
    if stage not in MessageStage.values:
        raise UpdateRejected(f"Unknown stage {stage!r}: expected one of {', '.join(MessageStage.values)}.")


def _latest_update(entry_id: int, stage: str) -> CustomerUpdate | None:
    return CustomerUpdate.objects.filter(entry_id=entry_id, stage=stage).order_by("-created_at", "-id").first()


def _resend_reason(
    entry: BacklogEntry, stage: str, stage_label: str, earlier: CustomerUpdate | None, resend_reason: str
) -> str:
    """Return the reason to store on a re-send, or "" for a first send; raise UpdateRejected when one is wrong."""
    if earlier is None:
        if resend_reason:
            raise UpdateRejected(
                f"{entry.reference} has no {stage_label} update to re-send; send it without a re-send reason."
            )
        return ""
    if resend_reason:
        return resend_reason
    if earlier.status == CustomerUpdate.Status.HELD:
        # A held update never reached the customer, so sending it once the values exist is no repeat.
        return f"the earlier update was held ({earlier.reason})"
    raise UpdateRejected(
        f"The {stage_label} update of {entry.reference} was {earlier.get_status_display().lower()} on "
        f"{earlier.created_at:%Y-%m-%d %H:%M}; give a reason to send it again."
    )


def _render(
    entry: BacklogEntry, stage: str, *, now: datetime, template=None, timeline: str | None = None
) -> RenderedMessage | HeldMessage:
    """Render the stage's active template for `entry`, or hold it naming every missing value."""
    template = template or template_for(entry, stage)
    if template is None:
        return HeldMessage(missing=("template",))
    outcome = render_update(
        template, entry, now=now, next_update_at=_next_update_at(entry, stage, now=now), timeline=timeline
    )
    missing = list(outcome.missing) if isinstance(outcome, HeldMessage) else []
    if not entry.customer_email.strip():
        missing.append(MISSING_EMAIL)
    if missing:
        return HeldMessage(missing=tuple(missing))
    return outcome


def _next_update_at(entry: BacklogEntry, stage: str, *, now: datetime) -> datetime | None:
    """Return when the cadence sends the next update: the midpoint after intake, the ETA after the midpoint."""
    if entry.due_at is None or entry.due_at <= now:
        return None
    if stage == MessageStage.INTAKE:
        return now + (entry.due_at - now) / 2
    if stage == MessageStage.MIDPOINT:
        return entry.due_at
    return None


def _enqueue(entry: BacklogEntry, stage: str, number: int, message: RenderedMessage, *, now: datetime) -> OutboxMessage:
    key = f"update:{entry.pk}:{stage}:{number}"
    # Delivery cancels messages whose entry is resolved or closed. The final update is written
    # for exactly that entry, so its row names no entry; the CustomerUpdate links the two.
    cause_entry_id = None if stage == MessageStage.FINAL else entry.pk
    outbox_enqueue(
        [
            OutboxDraft(
                idempotency_key=key,
                recipient=entry.customer_email.strip(),
                recipient_name=entry.customer_name.strip(),
                subject=message.subject,
                body_text=message.body_text,
                body_html=message.body_html,
                entry_id=cause_entry_id,
            )
        ],
        now=now,
    )
    return OutboxMessage.objects.get(idempotency_key=key)


# The cadence


@dataclass
class CadenceOutcome:
    queued: dict[str, int] = field(default_factory=lambda: {stage: 0 for stage in MessageStage.values})
    held: int = 0
    skipped: int = 0
    # Entries another run or a person updated between selection and send.
    raced: int = 0

    def as_dict(self) -> dict:
        return {"queued": dict(self.queued), "held": self.held, "skipped": self.skipped, "raced": self.raced}


def updates_cadence(*, now: datetime, batch_size: int = CADENCE_BATCH_SIZE) -> dict:
    """Send the intake, midpoint and final updates that are due at `now`, and skip midpoints that came too late.

    Intake: open entries that were triaged (a "Queued for triage" event, or an owner and an
    ETA) and have no intake update. Midpoint: open entries whose ETA is ahead and `now` is past
    halfway between the queued intake update and the ETA. Skipped midpoint: entries with an
    intake update but no midpoint whose ETA has passed or that are resolved or closed. Final:
    entries with a queued intake update and no final that were resolved or closed, or whose
    ETA a lead changed after the intake update. A held update counts
    as an update, so the cadence never retries it; staff send it again from the entry page.
    Each stage selects at most `batch_size` entries; every entry is sent in its own transaction.
    """
    outcome = CadenceOutcome()
    for entry_id in _intake_due(now=now, batch_size=batch_size):
        _send_from_cadence(entry_id, MessageStage.INTAKE, outcome, now=now)
    for entry_id, reason in _midpoint_skips(now=now, batch_size=batch_size):
        if update_skip(entry_id=entry_id, stage=MessageStage.MIDPOINT, reason=reason, now=now):
            outcome.skipped += 1
        else:
            outcome.raced += 1
    for entry_id in _midpoint_due(now=now, batch_size=batch_size):
        _send_from_cadence(entry_id, MessageStage.MIDPOINT, outcome, now=now)
    for entry_id in _final_due(batch_size=batch_size):
        _send_from_cadence(entry_id, MessageStage.FINAL, outcome, now=now)

    result = outcome.as_dict()
    if sum(outcome.queued.values()) or outcome.held or outcome.skipped or outcome.raced:
        logger.info("Customer update cadence at %s: %s", now.isoformat(), result)
    return result


def _send_from_cadence(entry_id: int, stage: str, outcome: CadenceOutcome, *, now: datetime) -> None:
    try:
        update = update_send(entry_id=entry_id, stage=stage, actor=None, now=now)
    except (UpdateRejected, IntegrityError) as error:
        # Someone sent this stage after the selection ran, so their update is kept.
        logger.info("Cadence left the %s update of entry %s alone: %s", stage, entry_id, error)
        outcome.raced += 1
        return
    if update.status == CustomerUpdate.Status.QUEUED:
        outcome.queued[stage] += 1
    else:
        outcome.held += 1


def _has_update(stage: str, *, queued_only: bool = False) -> Exists:
    updates = CustomerUpdate.objects.filter(entry=OuterRef("pk"), stage=stage)
    if queued_only:
        updates = updates.filter(status=CustomerUpdate.Status.QUEUED)
    return Exists(updates)


def _intake_due(*, now: datetime, batch_size: int) -> list[int]:
    triaged = Exists(TimelineEvent.objects.filter(entry=OuterRef("pk"), kind=TimelineEvent.Kind.TRIAGED))
    return list(
        BacklogEntry.objects.filter(status__in=OPEN_STATUSES)
        .filter(triaged | Q(owner__isnull=False, due_at__isnull=False))
        .filter(~_has_update(MessageStage.INTAKE))
        .order_by("detected_at", "id")
        .values_list("pk", flat=True)[:batch_size]
    )


def _midpoint_skips(*, now: datetime, batch_size: int) -> list[tuple[int, str]]:
    rows = (
        BacklogEntry.objects.filter(_has_update(MessageStage.INTAKE))
        .filter(~_has_update(MessageStage.MIDPOINT))
        .filter(Q(status__in=CLOSED_ENTRY_STATUSES) | Q(due_at__lte=now))
        .order_by("id")
        .values_list("pk", "status")[:batch_size]
    )
    return [
        (pk, "resolved before the midpoint" if status in CLOSED_ENTRY_STATUSES else "ETA reached before the midpoint")
        for pk, status in rows
    ]


def _midpoint_due(*, now: datetime, batch_size: int) -> list[int]:
    intake_at = Subquery(
        CustomerUpdate.objects.filter(
            entry=OuterRef("pk"), stage=MessageStage.INTAKE, status=CustomerUpdate.Status.QUEUED
        )
        .order_by("created_at", "id")
        .values("created_at")[:1],
        output_field=DateTimeField(),
    )
    moment = Value(now, output_field=DateTimeField())
    # Past halfway means the time since the intake update is at least the time left to the ETA.
    return list(
        BacklogEntry.objects.filter(status__in=OPEN_STATUSES, due_at__gt=now)
        .filter(~_has_update(MessageStage.MIDPOINT))
        .annotate(intake_at=intake_at)
        .filter(intake_at__isnull=False)
        .annotate(
            since_intake=ExpressionWrapper(moment - F("intake_at"), output_field=DurationField()),
            until_eta=ExpressionWrapper(F("due_at") - moment, output_field=DurationField()),
        )
        .filter(since_intake__gte=F("until_eta"))
        .order_by("due_at", "id")
        .values_list("pk", flat=True)[:batch_size]
    )


def _final_due(*, batch_size: int) -> list[int]:
    """Return entries due their final-expectation update: resolved, or given a new ETA.

    Only entries whose customer heard from us before count: a final notice out of the blue
    for every resolved entry, imported ones included, would confuse more than it helps.
    """
    intake_at = CustomerUpdate.objects.filter(
        entry=OuterRef("entry"), stage=MessageStage.INTAKE, status=CustomerUpdate.Status.QUEUED
    ).order_by("created_at").values("created_at")[:1]
    eta_changed_since_intake = Exists(
        TimelineEvent.objects.filter(
            entry=OuterRef("pk"), kind=TimelineEvent.Kind.ASSIGNED, changes__has_key="due_at"
        ).filter(at__gt=Subquery(intake_at))
    )
    return list(
        BacklogEntry.objects.filter(Q(status__in=CLOSED_ENTRY_STATUSES) | Q(eta_changed_since_intake))
        .filter(_has_update(MessageStage.INTAKE, queued_only=True))
        .filter(~_has_update(MessageStage.FINAL))
        .order_by("id")
        .values_list("pk", flat=True)[:batch_size]
    )


# Previews and sends of many entries at once, for the bulk page


def update_previews(*, entries: list[BacklogEntry], stage: str, now: datetime) -> dict[int, UpdatePreview]:
    """Render the stage's update for each of `entries` without storing anything, keyed by entry id.

    Runs three queries whatever the number of entries: the templates, the earlier updates and
    the timeline events. The entries should come with their channel joined.
    """
    _check_stage(stage)
    templates = _templates_by_key(entries, stage)
    earlier_updates = _latest_updates(entries, stage)
    timelines = _timeline_texts(entries)
    previews = {}
    for entry in entries:
        template = _template_from(templates, entry)
        if template is None:
            outcome = HeldMessage(missing=("template",))
        else:
            outcome = _render(entry, stage, now=now, template=template, timeline=timelines.get(entry.pk, ""))
        rendered = outcome if isinstance(outcome, RenderedMessage) else None
        previews[entry.pk] = UpdatePreview(
            stage=stage,
            rendered=rendered,
            held_reason="" if rendered else outcome.reason,
            earlier=earlier_updates.get(entry.pk),
        )
    return previews


@dataclass(frozen=True)
class BulkSendResult:
    """What a bulk send did for one entry: `outcome` is queued, held or rejected, and `detail` gives the reason."""

    entry_id: int
    reference: str
    outcome: str
    detail: str


def updates_bulk_send(
    *, entry_ids: list[int], stage: str, actor: AbstractBaseUser | None, now: datetime
) -> list[BulkSendResult]:
    """Send the stage's update of each entry through update_send, each in its own transaction.

    A rejection, such as an update sent before, affects only its own entry, so the other
    entries are still sent. No re-send reason is given, so an update that was queued before
    is rejected and must be re-sent from its entry page.
    """
    _check_stage(stage)
    results = []
    for entry_id in entry_ids:
        reference = format_reference(entry_id)
        try:
            update = update_send(entry_id=entry_id, stage=stage, actor=actor, now=now)
        except BacklogEntry.DoesNotExist:
            results.append(BulkSendResult(entry_id, reference, "rejected", f"No backlog entry has the id {entry_id}."))
            continue
        except (UpdateRejected, IntegrityError) as error:
            # IntegrityError: another sender stored the same outbox row first, so theirs is kept.
            logger.info("Bulk send left the %s update of entry %s alone: %s", stage, entry_id, error)
            results.append(BulkSendResult(entry_id, reference, "rejected", str(error)))
            continue
        if update.status == CustomerUpdate.Status.QUEUED:
            results.append(BulkSendResult(entry_id, reference, "queued", f"Queued for {update.outbox_message.recipient}."))
        else:
            results.append(BulkSendResult(entry_id, reference, "held", f"Held ({update.reason})."))
    return results


def _templates_by_key(entries: list[BacklogEntry], stage: str) -> dict[tuple[str, int | None], MessageTemplate]:
    """Return the latest template per (backlog type, channel id or None) that `entries` may use."""
    types = {entry.backlog_type for entry in entries}
    if not types:
        return {}
    templates = {}
    for template in MessageTemplate.objects.filter(stage=stage, backlog_type__in=types).order_by("version"):
        # Ordered by version, so the latest version of each key is stored last.
        templates[(template.backlog_type, template.channel_id)] = template
    return templates


def _template_from(templates: dict, entry: BacklogEntry) -> MessageTemplate | None:
    # The same choice as template_for: the entry's own channel wins over the any-channel template.
    own_channel = templates.get((entry.backlog_type, entry.channel_id))
    return own_channel or templates.get((entry.backlog_type, None))


def _latest_updates(entries: list[BacklogEntry], stage: str) -> dict[int, CustomerUpdate]:
    updates = CustomerUpdate.objects.filter(entry__in=[entry.pk for entry in entries], stage=stage).order_by(
        "entry_id", "-created_at", "-id"
    )
    latest = {}
    for update in updates:
        latest.setdefault(update.entry_id, update)
    return latest


def _timeline_texts(entries: list[BacklogEntry]) -> dict[int, str]:
    """Return the {{ timeline }} text of each entry, as placeholder_values writes it, from one query."""
    events = TimelineEvent.objects.filter(
        entry__in=[entry.pk for entry in entries], kind__in=CUSTOMER_VISIBLE_KINDS
    ).order_by("entry_id", "-at", "-id")
    latest: dict[int, list[TimelineEvent]] = {}
    for event in events:
        steps = latest.setdefault(event.entry_id, [])
        if len(steps) < TIMELINE_STEPS:
            steps.append(event)
    return {
        entry_id: format_timeline(reversed(steps))
        for entry_id, steps in latest.items()
    }


