"""Inbound customer contacts ("where is my order?") logged against backlog entries."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from backlog.models import BacklogEntry


class ContactChannel(models.TextChoices):
    EMAIL = "email", "Email"
    PHONE = "phone", "Phone"
    CHAT = "chat", "Chat"
    MARKETPLACE_MESSAGE = "marketplace_message", "Marketplace message"
    REVIEW = "review", "Review"
    OTHER = "other", "Other"


class InboundContact(models.Model):
    """One time a customer contacted us about an entry, as staff logged it or an import read it."""

    entry = models.ForeignKey(
        BacklogEntry, on_delete=models.CASCADE, related_name="inbound_contacts"
    )
    channel = models.CharField(max_length=24, choices=ContactChannel.choices)
    received_at = models.DateTimeField()
    # Stored exactly as typed or imported, in the customer's language, because the form and
    # the API do not strip it.
    note = models.TextField(blank=True)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for contacts read by an import.",
    )
    # Set only by imports; together they identify the source row, so a re-import adds nothing.
    source = models.CharField(max_length=40, null=True, blank=True)
    external_ref = models.CharField(max_length=100, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            # NULLs are distinct in both PostgreSQL and SQLite, so logged contacts never collide.
            models.UniqueConstraint(
                fields=["source", "external_ref"], name="contact_unique_source_external_ref"
            ),
            models.CheckConstraint(
                condition=Q(source__isnull=True, external_ref__isnull=True)
                | Q(source__isnull=False, external_ref__isnull=False),
                name="contact_source_and_ref_together",
            ),
        ]
        indexes = [
            # The entry page's list and the before/after split of the repeat-contact figures.
            models.Index(fields=["entry", "received_at"], name="contact_entry_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} contact at {self.received_at:%Y-%m-%d %H:%M}"
