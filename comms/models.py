"""Outgoing e-mail waiting in the outbox, customer message templates, and in-app notifications of staff."""

import hashlib

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from backlog.models import BacklogType

from .placeholders import template_problems

# The right-hand side of every Message-ID this product generates.
MESSAGE_ID_DOMAIN = "triage-desk"


def message_id_for(idempotency_key: str) -> str:
    """Derive the Message-ID of an outbox row from its idempotency key.

    The same key always gives the same Message-ID, so a message sent twice after a crash
    carries one Message-ID and receivers can drop the copy.
    """
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{MESSAGE_ID_DOMAIN}>"


class OutboxMessage(models.Model):
    """One e-mail queued in the transaction that decided it, and delivered afterwards by a worker.

    Escalation notices and customer updates share this table. `escalation` and `entry`
    name what caused the message, so delivery can cancel it when that cause is gone.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    # Unique per intended message, such as "escalation:42:7" (escalation 42, user 7), so
    # queuing the same message twice stores one row.
    idempotency_key = models.CharField(max_length=200, unique=True)
    recipient = models.EmailField()
    recipient_name = models.CharField(max_length=200, blank=True)
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=100, unique=True, help_text="Derived from the idempotency key.")
    created_at = models.DateTimeField()
    escalation = models.ForeignKey(
        "triage.Escalation", on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox_messages"
    )
    entry = models.ForeignKey(
        "backlog.BacklogEntry", on_delete=models.SET_NULL, null=True, blank=True, related_name="outbox_messages"
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Delivery reads the queued rows that are due, earliest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(status="queued"),
                name="outbox_queued_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} to {self.recipient} ({self.status})"


class Notification(models.Model):
    """An in-app notice to one user about one escalation; read_at is empty until they mark it read."""

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    escalation = models.ForeignKey("triage.Escalation", on_delete=models.CASCADE, related_name="notifications")
    text = models.TextField()
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "escalation"], name="notification_unique_recipient_escalation"),
        ]
        indexes = [
            models.Index(fields=["recipient", "read_at", "created_at"], name="notification_recipient_idx"),
        ]

    def __str__(self) -> str:
        return f"Notification to {self.recipient} about {self.escalation}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


def validate_template_source(source: str) -> None:
    """Reject template text with anything but `{{ allowed_name }}` tokens, naming each problem."""
    problems = template_problems(source)
    if problems:
        raise ValidationError(problems)


def validate_single_line(text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValidationError("The subject must be a single line.")


class MessageStage(models.TextChoices):
    INTAKE = "intake", "Intake"
    MIDPOINT = "midpoint", "Midpoint"
    FINAL = "final", "Final expectation"


class MessageTemplate(models.Model):
    """One version of the customer update for a backlog type and stage, optionally for one channel.

    Saving a template adds the next version instead of editing a row, and the highest version
    of a (type, stage, channel) is the active one. An empty channel means any channel.
    """

    backlog_type = models.CharField(max_length=16, choices=BacklogType.choices)
    stage = models.CharField(max_length=16, choices=MessageStage.choices)
    channel = models.ForeignKey(
        "backlog.Channel",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="message_templates",
        help_text="Empty for the template used by every channel without one of its own.",
    )
    version = models.PositiveIntegerField()
    subject = models.CharField(max_length=200, validators=[validate_single_line, validate_template_source])
    body_text = models.TextField(validators=[validate_template_source], verbose_name="plain-text body")
    body_html = models.TextField(blank=True, validators=[validate_template_source], verbose_name="HTML body")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for the defaults the system created.",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["backlog_type", "stage", "channel", "-version"]
        constraints = [
            # Two constraints because NULLs are distinct in a plain unique index, which
            # would let two any-channel rows share a version.
            models.UniqueConstraint(
                fields=["backlog_type", "stage", "channel", "version"],
                condition=models.Q(channel__isnull=False),
                name="message_template_unique_channel_version",
            ),
            models.UniqueConstraint(
                fields=["backlog_type", "stage", "version"],
                condition=models.Q(channel__isnull=True),
                name="message_template_unique_any_channel_version",
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="message_template_version_min_1"),
        ]

    def __str__(self) -> str:
        channel = self.channel.name if self.channel_id else "any channel"
        return f"{self.get_backlog_type_display()} / {self.get_stage_display()} / {channel} v{self.version}"


class CustomerUpdate(models.Model):
    """One customer update of an entry at one stage: queued in the outbox, held, or skipped.

    An entry has at most one first update per stage. Sending a stage again is a re-send: it
    needs a reason and points to the update it repeats.
    """

    class Status(models.TextChoices):
        # Whether the e-mail has left yet is the status of its outbox row.
        QUEUED = "queued", "Queued"
        HELD = "held", "Held"
        SKIPPED = "skipped", "Skipped"

    entry = models.ForeignKey("backlog.BacklogEntry", on_delete=models.CASCADE, related_name="customer_updates")
    stage = models.CharField(max_length=16, choices=MessageStage.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    outbox_message = models.ForeignKey(
        OutboxMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="customer_updates"
    )
    template = models.ForeignKey(
        MessageTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="customer_updates"
    )
    template_version = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="Why the update was held or skipped, or why it was sent again.")
    resend_of = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="resends"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for updates the cadence job sent.",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entry", "stage"],
                condition=models.Q(resend_of__isnull=True),
                name="customer_update_unique_first_per_stage",
            ),
            models.CheckConstraint(
                condition=models.Q(resend_of__isnull=True) | ~models.Q(reason=""),
                name="customer_update_resend_has_reason",
            ),
        ]
        indexes = [
            # The cadence job looks up each stage's updates across entries.
            models.Index(fields=["stage", "entry"], name="customer_update_stage_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_stage_display()} update of entry {self.entry_id} ({self.status})"
