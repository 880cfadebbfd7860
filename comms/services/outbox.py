"""The outbox: e-mail queued with the decision that caused it, delivered afterwards by a worker.

Delivery guarantee: at-least-once with a stable Message-ID. Each row is delivered in its own
transaction, which locks the row, sends it over SMTP and marks it sent before committing. A
second worker skips the locked row, so two workers never send the same row in the normal
case. A crash or lost database connection between the SMTP send and the commit leaves the
row queued, and the next run sends it once more. That copy carries the same Message-ID,
derived from the idempotency key, so receivers that deduplicate on Message-ID drop it.

Only transient failures are retried (connection refused or dropped, timeouts, SMTP 4xx
replies), after 1, 2, 4 ... minutes up to one hour, for at most MAX_ATTEMPTS attempts.
Other failures mark the row failed with the error text. When the relay cannot be reached,
the run stops after the first such failure, so the other rows keep their attempts.
"""

import logging
import smtplib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection as db_connection
from django.db import transaction

from backlog.models import Status as EntryStatus
from comms.models import OutboxMessage, message_id_for
from triage.models import Escalation

logger = logging.getLogger(__name__)

# Messages one delivery run sends at most. Each keeps its row locked for one SMTP
# exchange; at an estimated 10-100 ms per exchange with a nearby relay, a run ends inside
# the one-minute beat interval.
DELIVERY_BATCH_SIZE = 200
MAX_ATTEMPTS = 8
MAX_RETRY_DELAY = timedelta(minutes=60)
CLOSED_ENTRY_STATUSES = (EntryStatus.RESOLVED, EntryStatus.CLOSED)


@dataclass(frozen=True)
class OutboxDraft:
    """The content of one message to queue, and what caused it."""

    idempotency_key: str
    recipient: str
    subject: str
    body_text: str
    recipient_name: str = ""
    body_html: str = ""
    escalation_id: int | None = None
    entry_id: int | None = None


@dataclass
class DeliveryOutcome:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    # True when the run stopped early because the SMTP relay could not be reached.
    relay_unavailable: bool = False
    # IDs of the rows each run handled, for logs and tests.
    sent_ids: list[int] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled


def outbox_enqueue(drafts: Sequence[OutboxDraft], *, now: datetime) -> None:
    """Queue messages for delivery at `now`; a draft whose idempotency key is queued already is skipped.

    Call it inside the transaction of the decision that causes the messages, so they are
    queued if and only if that decision commits.
    """
    rows = [
        OutboxMessage(
            idempotency_key=draft.idempotency_key,
            recipient=draft.recipient,
            recipient_name=draft.recipient_name,
            subject=draft.subject,
            body_text=draft.body_text,
            body_html=draft.body_html,
            next_attempt_at=now,
            message_id=message_id_for(draft.idempotency_key),
            created_at=now,
            escalation_id=draft.escalation_id,
            entry_id=draft.entry_id,
        )
        for draft in drafts
    ]
    OutboxMessage.objects.bulk_create(rows, batch_size=500, ignore_conflicts=True)


def outbox_deliver(*, now: datetime, batch_size: int = DELIVERY_BATCH_SIZE) -> DeliveryOutcome:
    """Send queued messages that are due at `now`, up to `batch_size`, one transaction each.

    Several workers may run this at once on PostgreSQL: each locks the row it sends and
    skips rows that another worker has locked. On SQLite the write transaction serialises them.
    """
    outcome = DeliveryOutcome()
    mail_connection = get_connection(fail_silently=False)
    try:
        for _ in range(batch_size):
            if not _deliver_next(mail_connection, outcome, now=now) or outcome.relay_unavailable:
                break
    finally:
        mail_connection.close()
    if outcome.handled:
        logger.info(
            "Outbox delivery at %s: %d sent, %d to retry, %d failed, %d cancelled%s.",
            now.isoformat(),
            outcome.sent,
            outcome.retried,
            outcome.failed,
            outcome.cancelled,
            "; stopped early because the SMTP relay could not be reached" if outcome.relay_unavailable else "",
        )
    return outcome


def _deliver_next(mail_connection, outcome: DeliveryOutcome, *, now: datetime) -> bool:
    """Lock, send and update the next due row; return False when no row is due."""
    with transaction.atomic():
        message = _lock_next_due(now=now)
        if message is None:
            return False

        reason = _cancel_reason(message)
        if reason:
            _finish(message, status=OutboxMessage.Status.CANCELLED, error=reason)
            logger.info("Outbox message %d cancelled: %s", message.pk, reason)
            outcome.cancelled += 1
            return True

        message.attempts += 1
        try:
            _send(message, mail_connection)
        except (smtplib.SMTPException, OSError, ValueError) as error:
            # A failed exchange can leave the SMTP session half open; the next send reconnects.
            mail_connection.close()
            _record_failure(message, error, outcome, now=now)
            outcome.relay_unavailable = _is_connection_failure(error)
            return True

        message.status = OutboxMessage.Status.SENT
        message.sent_at = now
        message.last_error = ""
        message.save(update_fields=["status", "sent_at", "attempts", "last_error"])
        outcome.sent += 1
        outcome.sent_ids.append(message.pk)
        return True


def _lock_next_due(*, now: datetime) -> OutboxMessage | None:
    queryset = OutboxMessage.objects.filter(status=OutboxMessage.Status.QUEUED, next_attempt_at__lte=now).order_by(
        "next_attempt_at", "id"
    )
    if db_connection.features.has_select_for_update_skip_locked:
        # Lock only the outbox row: the cause's rows stay free for the people resolving them.
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    message = queryset.select_related("escalation", "entry").first()
    return message


def _cancel_reason(message: OutboxMessage) -> str:
    """Explain why the message's cause no longer needs it, or return "" to send it."""
    if message.entry is not None and message.entry.status in CLOSED_ENTRY_STATUSES:
        return f"{message.entry.reference} was {message.entry.get_status_display().lower()} before sending."
    if message.escalation is not None and message.escalation.status == Escalation.Status.RESOLVED:
        return f"The escalation of level {message.escalation.level} was resolved before sending."
    return ""


def _send(message: OutboxMessage, mail_connection) -> None:
    recipient = str(Address(display_name=message.recipient_name, addr_spec=message.recipient))
    email = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body_text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient],
        headers={"Message-ID": message.message_id},
        connection=mail_connection,
    )
    if message.body_html:
        email.attach_alternative(message.body_html, "text/html")
    email.send()


def is_transient(error: Exception) -> bool:
    """Tell whether a send failure may pass by itself, so the message is worth another attempt."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        # Every recipient was refused; a 4xx reply for each means "try again later".
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    if _is_connection_failure(error):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return False


def _is_connection_failure(error: Exception) -> bool:
    """Tell whether the relay itself failed, as opposed to rejecting one message."""
    return isinstance(
        error, smtplib.SMTPConnectError | smtplib.SMTPServerDisconnected | ConnectionError | TimeoutError
    )


def retry_delay(attempts: int) -> timedelta:
    """Return the wait after failed attempt number `attempts`: 1, 2, 4 ... minutes, at most one hour."""
    return min(timedelta(minutes=2 ** (attempts - 1)), MAX_RETRY_DELAY)


def _record_failure(message: OutboxMessage, error: Exception, outcome: DeliveryOutcome, *, now: datetime) -> None:
    error_text = f"{type(error).__name__}: {error}"
    if is_transient(error) and message.attempts < MAX_ATTEMPTS:
        message.next_attempt_at = now + retry_delay(message.attempts)
        _finish(message, status=OutboxMessage.Status.QUEUED, error=error_text)
        logger.warning(
            "Outbox message %d to %s failed on attempt %d, retrying at %s: %s",
            message.pk,
            message.recipient,
            message.attempts,
            message.next_attempt_at.isoformat(),
            error_text,
        )
        outcome.retried += 1
        return

    if is_transient(error):
        error_text = f"Gave up after {message.attempts} attempts. {error_text}"
    _finish(message, status=OutboxMessage.Status.FAILED, error=error_text)
    logger.error("Outbox message %d to %s failed: %s", message.pk, message.recipient, error_text)
    outcome.failed += 1


def _finish(message: OutboxMessage, *, status: str, error: str) -> None:
    message.status = status
    message.last_error = error
    message.save(update_fields=["status", "last_error", "attempts", "next_attempt_at"])
