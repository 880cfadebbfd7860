"""Outbox delivery through a real SMTP server: headers, cancellation, retries and concurrent workers."""

import asyncio
import smtplib
import socket
import threading
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from backlog.models import Status
from backlog.services.entries import entry_set_status
from comms.models import OutboxMessage, message_id_for
from comms.services.outbox import MAX_ATTEMPTS, OutboxDraft, is_transient, outbox_deliver, outbox_enqueue, retry_delay
from tests.factories import EntryFactory, TeamFactory, UserFactory
from triage.models import Escalation, EscalationPolicy
from triage.services.escalations import escalation_sweep

NOW = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


class RecordingHandler:
    """An aiosmtpd handler that stores each message, or rejects recipients with a set reply."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.recipient_reply: str | None = None
        # Seconds each DATA command takes, so concurrent senders overlap.
        self.delay = 0.0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.recipient_reply:
            return self.recipient_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(self.delay)
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"

    def parsed(self) -> list:
        return [message_from_bytes(raw, policy=policy.default) for raw in self.messages]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_smtp(settings, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_server(settings):
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_smtp(settings, controller.port)
    yield handler
    controller.stop()


@pytest.fixture
def no_smtp_server(settings):
    """Point the SMTP backend at a closed port, as when the relay is down."""
    use_smtp(settings, free_port())


def queue(key: str = "test:1", **fields) -> OutboxMessage:
    draft = OutboxDraft(
        idempotency_key=key,
        recipient=fields.pop("recipient", "zoe@example.test"),
        subject=fields.pop("subject", "Entry escalated"),
        body_text=fields.pop("body_text", "Body"),
        **fields,
    )
    outbox_enqueue([draft], now=NOW)
    return OutboxMessage.objects.get(idempotency_key=key)


@pytest.mark.django_db
def test_delivery_sends_stable_headers(smtp_server, settings):
    settings.DEFAULT_FROM_EMAIL = "Triage Desk <desk@example.test>"
    message = queue(
        "escalation:7:3",
        recipient_name="Zoë Müller",
        subject="Überfällig: BL-000007 erreichte Stufe 1",
        body_text="Grüße aus dem Lager",
        body_html="<p>Grüße</p>",
    )

    outcome = outbox_deliver(now=NOW)

    assert outcome.sent == 1
    [received] = smtp_server.parsed()
    assert received["Message-ID"] == message_id_for("escalation:7:3")
    assert received["Message-ID"] == message.message_id
    assert received["To"].addresses[0].display_name == "Zoë Müller"
    assert received["To"].addresses[0].addr_spec == "zoe@example.test"
    assert received["Subject"] == "Überfällig: BL-000007 erreichte Stufe 1"
    assert received["From"] == "Triage Desk <desk@example.test>"
    assert received.get_body(("plain",)).get_content().strip() == "Grüße aus dem Lager"
    assert received.get_body(("html",)).get_content().strip() == "<p>Grüße</p>"
    raw_headers = smtp_server.messages[0].split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii(), "non-ASCII header text is encoded as RFC 2047 words"
    assert b"=?utf-8?" in raw_headers
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.SENT
    assert message.sent_at == NOW
    assert message.attempts == 1


def test_message_id_is_deterministic():
    first = message_id_for("escalation:7:3")

    assert first == message_id_for("escalation:7:3")
    assert first != message_id_for("escalation:7:4")
    assert first.startswith("<")
    assert first.endswith("@triage-desk>")
    assert len(first) == len("<@triage-desk>") + 32


@pytest.mark.django_db
def test_enqueue_same_key_keeps_one_row():
    queue("escalation:1:1", subject="First")

    queue("escalation:1:1", subject="Second")

    assert OutboxMessage.objects.filter(idempotency_key="escalation:1:1").count() == 1
    assert OutboxMessage.objects.get().subject == "First"


@pytest.mark.django_db
def test_delivery_skips_rows_not_due(smtp_server):
    message = queue()
    OutboxMessage.objects.filter(pk=message.pk).update(next_attempt_at=NOW + timedelta(minutes=1))

    outcome = outbox_deliver(now=NOW)

    assert outcome.handled == 0
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_batch_size_caps_one_run(smtp_server):
    for number in range(5):
        queue(f"test:{number}")

    outcome = outbox_deliver(now=NOW, batch_size=3)

    assert outcome.sent == 3
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.QUEUED).count() == 2


# Notices of the escalation sweep, end to end.


@pytest.fixture
def escalated_entry(db):
    EscalationPolicy.objects.create(name="Hourly ladder", level1_minutes=60, level2_minutes=120)
    team = TeamFactory(name="Fulfilment")
    team.members.add(UserFactory(username="member-ali"), UserFactory(username="member-bea"))
    entry = EntryFactory(detected_at=NOW - timedelta(minutes=61), team=team)
    escalation_sweep(now=NOW)
    return entry


@pytest.mark.django_db
def test_sweep_notices_reach_smtp_server(smtp_server, escalated_entry):
    outcome = outbox_deliver(now=NOW)

    assert outcome.sent == 2
    recipients = sorted(message["To"].addresses[0].addr_spec for message in smtp_server.parsed())
    assert recipients == ["member-ali@example.test", "member-bea@example.test"]
    assert outbox_deliver(now=NOW + timedelta(minutes=1)).handled == 0


@pytest.mark.django_db
def test_resolved_entry_notice_is_cancelled(smtp_server, escalated_entry, lead):
    entry_set_status(
        entry_id=escalated_entry.pk,
        expected_version=escalated_entry.version,
        status=Status.RESOLVED,
        actor=lead,
        now=NOW,
    )

    outcome = outbox_deliver(now=NOW + timedelta(seconds=30))

    assert outcome.cancelled == 2
    assert outcome.sent == 0
    assert smtp_server.messages == []
    for message in OutboxMessage.objects.all():
        assert message.status == OutboxMessage.Status.CANCELLED
        assert message.last_error == f"{escalated_entry.reference} was resolved before sending."
        assert message.attempts == 0


@pytest.mark.django_db
def test_resolved_escalation_notice_is_cancelled(smtp_server, escalated_entry):
    Escalation.objects.filter(entry=escalated_entry).update(status=Escalation.Status.RESOLVED)

    outcome = outbox_deliver(now=NOW)

    assert outcome.cancelled == 2
    assert smtp_server.messages == []


# Failures and retries.


@pytest.mark.django_db
def test_server_down_schedules_retry(no_smtp_server):
    message = queue()

    outcome = outbox_deliver(now=NOW)

    assert outcome.retried == 1
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.QUEUED
    assert message.attempts == 1
    assert message.next_attempt_at == NOW + timedelta(minutes=1)
    assert message.last_error.startswith("ConnectionRefusedError")


@pytest.mark.django_db
def test_relay_down_stops_the_run(no_smtp_server):
    for number in range(3):
        queue(f"test:{number}")

    outcome = outbox_deliver(now=NOW)

    assert outcome.relay_unavailable
    assert outcome.retried == 1
    attempts = sorted(OutboxMessage.objects.values_list("attempts", flat=True))
    assert attempts == [0, 0, 1], "rows after the first keep their attempts"


@pytest.mark.django_db
def test_retry_waits_longer_each_attempt(no_smtp_server):
    message = queue()
    moment = NOW
    waits = []
    for _ in range(4):
        outbox_deliver(now=moment)
        message.refresh_from_db()
        waits.append(message.next_attempt_at - moment)
        moment = message.next_attempt_at

    assert waits == [timedelta(minutes=minutes) for minutes in (1, 2, 4, 8)]


@pytest.mark.django_db
def test_retry_then_success_after_server_returns(settings, no_smtp_server):
    message = queue()
    outbox_deliver(now=NOW)
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=settings.EMAIL_PORT)
    controller.start()
    try:
        early = outbox_deliver(now=NOW + timedelta(seconds=59))
        outcome = outbox_deliver(now=NOW + timedelta(minutes=1))
    finally:
        controller.stop()

    assert early.handled == 0, "not retried before its backoff ends"
    assert outcome.sent == 1
    message.refresh_from_db()
    assert message.attempts == 2
    assert message.last_error == ""
    assert len(handler.messages) == 1


@pytest.mark.django_db
def test_reply_451_schedules_retry(smtp_server):
    smtp_server.recipient_reply = "451 4.3.0 Mailbox temporarily unavailable"
    message = queue()

    outcome = outbox_deliver(now=NOW)

    assert outcome.retried == 1
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.QUEUED
    assert message.next_attempt_at == NOW + timedelta(minutes=1)
    assert "451" in message.last_error


@pytest.mark.django_db
def test_reply_550_marks_failed(smtp_server):
    smtp_server.recipient_reply = "550 5.1.1 No such user"
    message = queue()

    outcome = outbox_deliver(now=NOW)

    assert outcome.failed == 1
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == 1
    assert message.last_error.startswith("SMTPRecipientsRefused")
    assert "550" in message.last_error
    assert "No such user" in message.last_error
    assert outbox_deliver(now=NOW + timedelta(hours=2)).handled == 0


@pytest.mark.django_db
def test_last_attempt_marks_failed(no_smtp_server):
    message = queue()
    OutboxMessage.objects.filter(pk=message.pk).update(attempts=MAX_ATTEMPTS - 1)

    outcome = outbox_deliver(now=NOW)

    assert outcome.failed == 1
    message.refresh_from_db()
    assert message.status == OutboxMessage.Status.FAILED
    assert message.attempts == MAX_ATTEMPTS
    assert message.last_error.startswith(f"Gave up after {MAX_ATTEMPTS} attempts. ConnectionRefusedError")


@pytest.mark.django_db
def test_one_failure_does_not_block_others(smtp_server):
    queue("test:bad", recipient="bad@example.test")
    queue("test:good", recipient="good@example.test")
    original = smtp_server.handle_RCPT

    async def reject_bad(server, session, envelope, address, rcpt_options):
        if address == "bad@example.test":
            return "550 5.1.1 No such user"
        return await original(server, session, envelope, address, rcpt_options)

    smtp_server.handle_RCPT = reject_bad

    outcome = outbox_deliver(now=NOW)

    assert outcome.failed == 1
    assert outcome.sent == 1
    [received] = smtp_server.parsed()
    assert received["To"].addresses[0].addr_spec == "good@example.test"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), True),
        (ConnectionRefusedError(111, "Connection refused"), True),
        (TimeoutError("timed out"), True),
        (smtplib.SMTPConnectError(554, "No service"), True),
        (smtplib.SMTPDataError(451, "Try later"), True),
        (smtplib.SMTPDataError(554, "Rejected"), False),
        (smtplib.SMTPAuthenticationError(535, "Bad credentials"), False),
        (smtplib.SMTPRecipientsRefused({"a@example.test": (452, b"Full")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.test": (550, b"Unknown")}), False),
        (ValueError("Header values may not contain linefeed"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_is_transient(error, expected):
    assert is_transient(error) is expected


@pytest.mark.parametrize(
    ("attempts", "minutes"),
    [(1, 1), (2, 2), (3, 4), (6, 32), (7, 60), (8, 60)],
)
def test_retry_delay_caps_at_one_hour(attempts, minutes):
    assert retry_delay(attempts) == timedelta(minutes=minutes)


# Concurrent workers.


@pytest.mark.django_db(transaction=True)
def test_two_workers_send_each_message_once(uses_postgres, smtp_server):
    for number in range(30):
        queue(f"test:{number}", recipient=f"user{number}@example.test")
    smtp_server.delay = 0.02
    barrier = threading.Barrier(2)
    outcomes = []
    errors = []

    def worker() -> None:
        try:
            barrier.wait(timeout=10)
            outcomes.append(outbox_deliver(now=NOW))
        except Exception as error:  # noqa: BLE001 - the main thread asserts on it
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert sum(outcome.sent for outcome in outcomes) == 30
    message_ids = [message["Message-ID"] for message in smtp_server.parsed()]
    assert len(message_ids) == 30
    assert len(set(message_ids)) == 30
    assert all(outcome.sent > 0 for outcome in outcomes), "both workers took part"
    assert not set(outcomes[0].sent_ids) & set(outcomes[1].sent_ids)
    assert OutboxMessage.objects.filter(status=OutboxMessage.Status.SENT).count() == 30
