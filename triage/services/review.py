"""Manager actions on escalations: acknowledge, comment, reassign, change the ETA, resolve.

Each action locks the escalation row, checks its status, and appends an event to the
entry's timeline in the same transaction. Reassigning and changing the ETA go through
entry_decide, so the entry's version check applies to them as it does on the dashboard.
Resolving an escalation leaves the entry's status alone.
"""

import logging
from datetime import datetime

from django.contrib.auth import get_user_model
from django.db import transaction

from backlog.models import TimelineEvent
from backlog.services.entries import TriageDecision, entry_decide
from backlog.services.timeline import event_record
from triage.models import Escalation, EscalationComment

logger = logging.getLogger(__name__)

User = get_user_model()

UNRESOLVED_STATUSES = (Escalation.Status.OPEN, Escalation.Status.ACKNOWLEDGED)


class EscalationStateError(Exception):
    """Raised when an action does not fit the escalation's current status, such as resolving it twice."""


def escalation_acknowledge(*, escalation_id: int, actor: User, now: datetime, note: str = "") -> Escalation:
    """Mark an open escalation as seen by `actor`, so other managers know someone is on it."""
    with transaction.atomic():
        escalation = _lock(escalation_id)
        if escalation.status != Escalation.Status.OPEN:
            raise EscalationStateError(
                f"The {_name(escalation)} is already {escalation.get_status_display().lower()}"
                f"{_by_whom(escalation)}, so it cannot be acknowledged."
            )
        old_status = escalation.status
        escalation.status = Escalation.Status.ACKNOWLEDGED
        escalation.acknowledged_by = actor
        escalation.acknowledged_at = now
        escalation.save(update_fields=["status", "acknowledged_by", "acknowledged_at"])
        _record_status_change(
            escalation, old_status=old_status, actor=actor, now=now, reason=note or f"Acknowledged the {_name(escalation)}."
        )
    logger.info("Escalation %s acknowledged by user %s.", escalation_id, actor.pk)
    return escalation


def escalation_comment(*, escalation_id: int, actor: User, now: datetime, body: str) -> EscalationComment:
    """Add a comment to an escalation's thread and copy it to the entry's timeline."""
    body = body.strip()
    if not body:
        raise ValueError("A comment needs some text.")
    with transaction.atomic():
        escalation = _lock(escalation_id)
        comment = EscalationComment.objects.create(escalation=escalation, author=actor, body=body, created_at=now)
        event_record(
            escalation.entry,
            kind=TimelineEvent.Kind.ESCALATED,
            at=now,
            actor=actor,
            reason=f"Comment on the {_name(escalation)}: {body}",
        )
    return comment


def escalation_reassign(
    *, escalation_id: int, expected_version: int, owner: User, actor: User, now: datetime, reason: str = ""
) -> Escalation:
    """Give the escalated entry another owner, or raise StaleEntryError if the entry changed since it was loaded."""
    return _decide(
        escalation_id,
        expected_version=expected_version,
        decision_fields={"owner": owner},
        actor=actor,
        now=now,
        reason=reason,
    )


def escalation_change_eta(
    *, escalation_id: int, expected_version: int, due_at: datetime, actor: User, now: datetime, reason: str = ""
) -> Escalation:
    """Set a new ETA on the escalated entry, or raise StaleEntryError if the entry changed since it was loaded."""
    return _decide(
        escalation_id,
        expected_version=expected_version,
        decision_fields={"due_at": due_at},
        actor=actor,
        now=now,
        reason=reason,
    )


def escalation_resolve(*, escalation_id: int, actor: User, now: datetime, note: str = "") -> Escalation:
    """Close an open or acknowledged escalation. The entry itself stays open."""
    with transaction.atomic():
        escalation = _lock(escalation_id)
        if escalation.status not in UNRESOLVED_STATUSES:
            raise EscalationStateError(f"The {_name(escalation)} is already resolved{_by_whom(escalation)}.")
        old_status = escalation.status
        escalation.status = Escalation.Status.RESOLVED
        escalation.resolved_by = actor
        escalation.resolved_at = now
        escalation.save(update_fields=["status", "resolved_by", "resolved_at"])
        _record_status_change(
            escalation, old_status=old_status, actor=actor, now=now, reason=note or f"Resolved the {_name(escalation)}."
        )
    logger.info("Escalation %s resolved by user %s.", escalation_id, actor.pk)
    return escalation


def _decide(
    escalation_id: int, *, expected_version: int, decision_fields: dict, actor: User, now: datetime, reason: str
) -> Escalation:
    # Every review action locks the escalation before the entry, so two managers acting on
    # one escalation wait for each other instead of locking in opposite orders.
    with transaction.atomic():
        escalation = _lock(escalation_id)
        if escalation.status not in UNRESOLVED_STATUSES:
            raise EscalationStateError(
                f"The {_name(escalation)} is already resolved{_by_whom(escalation)}. Change the entry on its own page."
            )
        entry_decide(
            entry_id=escalation.entry_id,
            expected_version=expected_version,
            decision=TriageDecision(**decision_fields, reason=reason or f"Changed from the review of the {_name(escalation)}."),
            actor=actor,
            now=now,
        )
    return escalation


def _lock(escalation_id: int) -> Escalation:
    # of=("self",) keeps the join from locking the entry too, which entry_decide locks itself.
    return (
        Escalation.objects.select_for_update(of=("self",))
        .select_related("entry", "acknowledged_by", "resolved_by")
        .get(pk=escalation_id)
    )


def _record_status_change(
    escalation: Escalation, *, old_status: str, actor: User, now: datetime, reason: str
) -> None:
    event_record(
        escalation.entry,
        kind=TimelineEvent.Kind.ESCALATED,
        at=now,
        actor=actor,
        changes={f"level_{escalation.level}_escalation": {"old": old_status, "new": escalation.status}},
        reason=reason,
    )


def _name(escalation: Escalation) -> str:
    """Return "level 2 escalation of BL-000123", as it reads inside a sentence."""
    return f"level {escalation.level} escalation of {escalation.entry.reference}"


def _by_whom(escalation: Escalation) -> str:
    """Return " by Carla" for the person who last moved the escalation on, or an empty string."""
    person = escalation.resolved_by if escalation.status == Escalation.Status.RESOLVED else escalation.acknowledged_by
    if person is None:
        return ""
    return f" by {person.get_full_name() or person.get_username()}"
