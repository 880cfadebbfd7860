"""Shifts and the 30-minute triage cycles worked during them."""

from django.conf import settings
from django.db import models

from backlog.models import BacklogEntry


class Shift(models.Model):
    """A named period of the day with the triage lead and support person on duty.

    Times are local to the site's time zone. A shift whose end is before its start runs
    past midnight.
    """

    name = models.CharField(max_length=60, unique=True)
    starts_at = models.TimeField()
    ends_at = models.TimeField()
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    support = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["starts_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.starts_at:%H:%M}-{self.ends_at:%H:%M})"


class TriageCycle(models.Model):
    """The triage run of one 30-minute slot; at most one exists per slot."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"

    slot_start = models.DateTimeField(unique=True)
    shift = models.ForeignKey(Shift, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    support = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    batch_size = models.PositiveIntegerField()
    entries = models.ManyToManyField(BacklogEntry, through="CycleItem", related_name="cycles")

    class Meta:
        ordering = ["-slot_start"]

    def __str__(self) -> str:
        return f"Triage cycle {self.slot_start:%Y-%m-%d %H:%M} UTC"

    @property
    def nobody_on_duty(self) -> bool:
        return self.lead_id is None and self.support_id is None


class CycleItem(models.Model):
    """One entry queued in a cycle, with why it was picked and when a lead decided it."""

    class Reason(models.TextChoices):
        UNOWNED = "unowned", "No owner"
        NO_METHOD = "no_method", "No resolution method"
        NO_ETA = "no_eta", "No ETA"
        ETA_PASSED = "eta_passed", "ETA passed"

    cycle = models.ForeignKey(TriageCycle, on_delete=models.CASCADE, related_name="items")
    entry = models.ForeignKey(BacklogEntry, on_delete=models.CASCADE, related_name="cycle_items")
    position = models.PositiveIntegerField()
    reasons = models.JSONField(default=list)
    decided_at = models.DateTimeField(null=True, blank=True)
    # What the lead decided: {"field": {"old", "new"}}, as on the entry's timeline.
    decision = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["cycle", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cycle", "entry"], name="cycle_item_unique_entry"),
        ]
        indexes = [
            models.Index(
                fields=["entry"], condition=models.Q(decided_at__isnull=True), name="cycle_item_open_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.entry.reference} in {self.cycle}"


def reason_phrase(code: str) -> str:
    """Return a cycle item reason as it reads inside a sentence, such as "no owner" or "ETA passed".

    The label's first letter is lowered unless its first word is an abbreviation such as ETA.
    An unknown code is returned as it is.
    """
    try:
        label = str(CycleItem.Reason(code).label)
    except ValueError:
        return code
    if label.split()[0].isupper():
        return label
    return label[0].lower() + label[1:]


def reasons_text(codes: list[str]) -> str:
    """Join reason codes into one phrase, such as "no owner, no resolution method, no ETA"."""
    return ", ".join(reason_phrase(code) for code in codes)
