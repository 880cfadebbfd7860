"""Backlog entries, the channels and teams they belong to, and their timelines."""

from django.conf import settings
from django.db import models
from django.db.models import Q

REFERENCE_PREFIX = "BL-"


class Channel(models.Model):
    """A sales channel such as the web shop, a store or a marketplace."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    # Level 3 escalations go out only for high-impact channels.
    high_impact = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    """A group of staff who own entries, with the manager who reviews its escalations."""

    name = models.CharField(max_length=100, unique=True)
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="managed_teams",
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ResolutionMethod(models.Model):
    """A way to resolve an entry; the six standard methods come from a data migration."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Stage(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    AWAITING_ALLOCATION = "awaiting_allocation", "Awaiting allocation"
    AWAITING_HANDOVER = "awaiting_handover", "Awaiting hand-over"
    IN_TRANSIT = "in_transit", "In transit"
    DELIVERED = "delivered", "Delivered"


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


# Entries in these statuses make up the live backlog; the partial indexes below cover them.
OPEN_STATUSES = (Status.OPEN, Status.ON_HOLD)
OPEN_CONDITION = Q(status__in=OPEN_STATUSES)


class BacklogType(models.TextChoices):
    DEMAND = "demand", "Demand-driven"
    ALLOCATION = "allocation", "Allocation"
    PROCESSING = "processing", "Processing"
    MIXED = "mixed", "Mixed"
    UNCLASSIFIED = "unclassified", "No signal"


class BacklogEntryQuerySet(models.QuerySet):
    def open(self) -> "BacklogEntryQuerySet":
        return self.filter(OPEN_CONDITION)


class BacklogEntry(models.Model):
    """One order or support case that missed, or will miss, its promise."""

    source = models.CharField(max_length=40)
    external_ref = models.CharField(max_length=100)
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="entries")
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="entries"
    )

    customer_name = models.CharField(max_length=200, blank=True)
    customer_email = models.EmailField(blank=True)
    region = models.CharField(max_length=64, blank=True)

    # Facts of the order's progress; classification reads only these and the lines.
    ordered_at = models.DateTimeField()
    approved_at = models.DateTimeField(null=True, blank=True)
    handed_over_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    handover_due_at = models.DateTimeField(
        null=True, blank=True, help_text="Latest time the seller should hand the order to the carrier."
    )
    promised_at = models.DateTimeField(
        null=True, blank=True, help_text="Delivery date promised to the customer."
    )
    items_unavailable = models.BooleanField(default=False)
    # Demand figures recorded at intake: {"category": {"key": ..., "count": ..., "baseline": ...}, ...}
    intake_demand = models.JSONField(default=dict, blank=True)

    detected_at = models.DateTimeField(help_text="Age counts from here.")
    stage = models.CharField(max_length=24, choices=Stage.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    backlog_type = models.CharField(
        max_length=16, choices=BacklogType.choices, default=BacklogType.UNCLASSIFIED
    )
    # Each fired signal as {"signal", "type", "label", "values"}; see backlog.classification.
    classification_reasons = models.JSONField(default=list, blank=True)
    classified_at = models.DateTimeField(null=True, blank=True)

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_entries",
    )
    resolution_method = models.ForeignKey(
        ResolutionMethod, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True, verbose_name="ETA")
    escalation_level = models.PositiveSmallIntegerField(default=0)
    closed_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    # Bumped by staff decisions, status changes and imports that change facts; an edit based
    # on an older version is rejected as stale. System writes that touch no staff-edited
    # field (classification, the triage cycle, the escalation sweep) leave it alone.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BacklogEntryQuerySet.as_manager()

    class Meta:
        ordering = ["detected_at", "id"]
        verbose_name_plural = "backlog entries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_ref"], name="entry_unique_source_external_ref"
            ),
            models.CheckConstraint(
                condition=Q(escalation_level__lte=3), name="entry_escalation_level_max_3"
            ),
        ]
        indexes = [
            # The triage queue and dashboard list: open entries, oldest first (keyset on id).
            models.Index(
                fields=["detected_at", "id"], condition=OPEN_CONDITION, name="entry_open_age_idx"
            ),
            # Dashboard counts by backlog type and age bucket.
            models.Index(
                fields=["backlog_type", "detected_at"],
                condition=OPEN_CONDITION,
                name="entry_open_type_age_idx",
            ),
            # Channel filter and per-channel counts.
            models.Index(
                fields=["channel", "detected_at"],
                condition=OPEN_CONDITION,
                name="entry_open_channel_age_idx",
            ),
            # Owner filter ("my entries").
            models.Index(
                fields=["owner", "detected_at"],
                condition=OPEN_CONDITION,
                name="entry_open_owner_age_idx",
            ),
            # The re-classification job: open entries classified longest ago.
            models.Index(
                fields=["classified_at", "id"],
                condition=OPEN_CONDITION,
                name="entry_open_classified_idx",
            ),
            # Demand baselines read all orders, open or not, in a range of order times.
            models.Index(fields=["ordered_at"], name="entry_ordered_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.source}:{self.external_ref})"

    @property
    def reference(self) -> str:
        return format_reference(self.pk)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


def format_reference(pk: int | None) -> str:
    """Format the human-readable reference of an entry, such as BL-000123."""
    return f"{REFERENCE_PREFIX}{pk:06d}" if pk else f"{REFERENCE_PREFIX}(new)"


def parse_reference(reference: str) -> int | None:
    """Return the primary key in a reference such as BL-000123, or None if it is not one."""
    text = reference.strip().upper()
    if not text.startswith(REFERENCE_PREFIX):
        return None
    digits = text.removeprefix(REFERENCE_PREFIX)
    return int(digits) if digits.isdigit() else None


class EntryLine(models.Model):
    """One SKU line of an entry's order."""

    entry = models.ForeignKey(BacklogEntry, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64)
    quantity = models.PositiveIntegerField(default=1)
    category = models.CharField(max_length=100, blank=True)
    seller = models.CharField(max_length=64, blank=True)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    class Meta:
        ordering = ["entry", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "line_number"], name="line_unique_number"),
        ]

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"


class TimelineEvent(models.Model):
    """One state change of an entry: who, what, when, the old and new values, and why."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        CLASSIFIED = "classified", "Classified"
        ASSIGNED = "assigned", "Triage decision"
        TRIAGED = "triaged", "Queued for triage"
        STATUS = "status", "Status changed"
        ESCALATED = "escalated", "Escalated"
        CONTACT = "contact", "Customer contact"

    entry = models.ForeignKey(BacklogEntry, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for changes made by the system (imports, scheduled jobs).",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # {"field": {"old": ..., "new": ...}} with values as displayed strings.
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["entry", "at"], name="event_entry_at_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M}"


class ImportRun(models.Model):
    """One import of a file or folder, with its outcome, for the audit trail."""

    started_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=40)
    file_format = models.CharField(max_length=16)
    file_name = models.CharField(max_length=255)
    dry_run = models.BooleanField(default=False)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.file_format} import of {self.file_name} at {self.started_at:%Y-%m-%d %H:%M}"
