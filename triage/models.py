"""Shifts, the 30-minute triage cycles worked during them, and the escalation ladder."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from backlog.models import BacklogEntry, BacklogType, Channel, Team


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


class SlaCalendar(models.Model):
    """Weekly opening hours and holidays that business-hours ages count in, in the site's zone."""

    name = models.CharField(max_length=60, unique=True)
    # [{"weekday": 0, "starts": "09:00", "ends": "17:00"}, ...]; Monday is 0, "ends" of
    # "00:00" means midnight at the day's end.
    opening_hours = models.JSONField(
        default=list,
        help_text='A list of windows, such as [{"weekday": 0, "starts": "09:00", "ends": "17:00"}]. '
        'Monday is 0; "ends" of "24:00" means midnight.',
    )
    # ["2026-12-25", ...]
    holidays = models.JSONField(default=list, blank=True, help_text='Closed dates, such as ["2026-12-25"].')

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Local import: calendars.py is plain Python and imports no model.
        from triage.services.clock import calendar_of

        try:
            calendar_of(self)
        except ValueError as error:
            raise ValidationError({"opening_hours": f"Invalid calendar: {error}"}) from error


# Maximum cutoff a policy may set. An age beyond a year is no escalation rule, and the
# business-hours arithmetic searches at most ten years ahead.
MAX_CUTOFF_MINUTES = 365 * 24 * 60


class EscalationPolicy(models.Model):
    """Age cutoffs of the escalation ladder for a backlog type and channel.

    An empty backlog type or channel matches any; the most specific active policy applies.
    Level 3 fires only for high-impact channels.
    """

    name = models.CharField(max_length=60, unique=True)
    backlog_type = models.CharField(max_length=16, choices=BacklogType.choices, blank=True)
    channel = models.ForeignKey(
        Channel, on_delete=models.CASCADE, null=True, blank=True, related_name="escalation_policies"
    )
    calendar = models.ForeignKey(
        SlaCalendar,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Business hours the age counts in; empty counts wall-clock time.",
    )
    level1_minutes = models.PositiveIntegerField(help_text="Age at which the owning team is told.")
    level2_minutes = models.PositiveIntegerField(help_text="Age at which the team's manager is told.")
    level3_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Age at which support gets a structured notice (high-impact channels)."
    )
    warning_minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long before each cutoff a warning shows."
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "escalation policies"
        constraints = [
            models.UniqueConstraint(
                fields=["backlog_type", "channel"],
                condition=models.Q(active=True),
                name="policy_unique_active_scope",
                nulls_distinct=False,
                violation_error_message=(
                    "An active policy already covers this backlog type and channel. "
                    "Deactivate it first, or give this one another type or channel."
                ),
            ),
            models.CheckConstraint(condition=models.Q(level1_minutes__gt=0), name="policy_level1_positive"),
            models.CheckConstraint(
                condition=models.Q(level2_minutes__gt=models.F("level1_minutes")),
                name="policy_level2_after_level1",
            ),
            models.CheckConstraint(
                condition=models.Q(level3_minutes__isnull=True)
                | models.Q(level3_minutes__gt=models.F("level2_minutes")),
                name="policy_level3_after_level2",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        for name in ("level1_minutes", "level2_minutes", "level3_minutes", "warning_minutes"):
            value = getattr(self, name)
            if value is not None and value > MAX_CUTOFF_MINUTES:
                errors[name] = f"At most {MAX_CUTOFF_MINUTES:,} minutes (one year)."
        if self.level1_minutes is not None and self.level1_minutes <= 0:
            errors["level1_minutes"] = "The level 1 cutoff must be positive."
        if None not in (self.level1_minutes, self.level2_minutes) and self.level2_minutes <= self.level1_minutes:
            errors["level2_minutes"] = "The level 2 cutoff must be later than level 1."
        if None not in (self.level2_minutes, self.level3_minutes) and self.level3_minutes <= self.level2_minutes:
            errors["level3_minutes"] = "The level 3 cutoff must be later than level 2."
        if self.warning_minutes is not None and self.level1_minutes and self.warning_minutes >= self.level1_minutes:
            errors["warning_minutes"] = "The warning must come after the entry is detected, so before the level 1 cutoff."
        if errors:
            raise ValidationError(errors)

    def cutoffs(self) -> dict[int, int]:
        """Return {level: minutes} of the levels this policy sets."""
        levels = {1: self.level1_minutes, 2: self.level2_minutes, 3: self.level3_minutes}
        return {level: minutes for level, minutes in levels.items() if minutes is not None}


class EntryPause(models.Model):
    """A stretch during which an entry sat in a paused status, so its escalation clock stood still."""

    entry = models.ForeignKey(BacklogEntry, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["entry", "started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["entry"], condition=models.Q(ended_at__isnull=True), name="pause_one_open_per_entry"
            ),
        ]

    def __str__(self) -> str:
        return f"Pause of {self.entry.reference} from {self.started_at:%Y-%m-%d %H:%M}"


class EscalationClock(models.Model):
    """When each level of the ladder falls due for one open entry, kept current by the clock service.

    The sweep compares these instants with the time, so it needs no calendar arithmetic and
    runs as a few set-based statements. While the entry is paused, every due time is empty.
    """

    entry = models.OneToOneField(BacklogEntry, on_delete=models.CASCADE, primary_key=True, related_name="clock")
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.SET_NULL, null=True, related_name="+")
    level1_due_at = models.DateTimeField(null=True, blank=True)
    level2_due_at = models.DateTimeField(null=True, blank=True)
    level3_due_at = models.DateTimeField(null=True, blank=True)
    warning_at = models.DateTimeField(null=True, blank=True, help_text="Warning before the next cutoff.")
    computed_at = models.DateTimeField()

    class Meta:
        indexes = [
            # One partial index per level: the sweep reads the due rows of each level.
            models.Index(fields=["level1_due_at"], condition=models.Q(level1_due_at__isnull=False), name="clock_level1_due_idx"),
            models.Index(fields=["level2_due_at"], condition=models.Q(level2_due_at__isnull=False), name="clock_level2_due_idx"),
            models.Index(fields=["level3_due_at"], condition=models.Q(level3_due_at__isnull=False), name="clock_level3_due_idx"),
        ]

    def __str__(self) -> str:
        return f"Escalation clock of {self.entry.reference}"


class Escalation(models.Model):
    """One level of the ladder reached by one entry; each (entry, level) exists at most once."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        RESOLVED = "resolved", "Resolved"

    entry = models.ForeignKey(BacklogEntry, on_delete=models.CASCADE, related_name="escalations")
    level = models.PositiveSmallIntegerField()
    due_at = models.DateTimeField()
    fired_at = models.DateTimeField()
    policy = models.ForeignKey(EscalationPolicy, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-fired_at", "entry", "level"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "level"], name="escalation_unique_entry_level"),
            models.CheckConstraint(condition=models.Q(level__gte=1, level__lte=3), name="escalation_level_1_to_3"),
        ]
        indexes = [
            models.Index(fields=["status", "level"], condition=models.Q(status="open"), name="escalation_open_idx"),
        ]

    def __str__(self) -> str:
        return f"Level {self.level} of {self.entry.reference}"


class EscalationComment(models.Model):
    """A note a manager or admin left on an escalation while reviewing it."""

    escalation = models.ForeignKey(Escalation, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["escalation", "created_at", "id"]

    def __str__(self) -> str:
        return f"Comment on {self.escalation} at {self.created_at:%Y-%m-%d %H:%M}"


class CapacityFlag(models.Model):
    """A team that missed the same cutoff too often within a rolling window.

    The flag calls for more capacity or tighter rules. Each (team, level) has at
    most one open flag, and a manager closes it with a note saying what was done.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="capacity_flags")
    level = models.PositiveSmallIntegerField()
    # The rolling window the misses were counted in when the flag was raised.
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    misses = models.PositiveIntegerField()
    created_at = models.DateTimeField()
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True, help_text="What the manager changed when closing the flag.")

    class Meta:
        ordering = ["-created_at", "team", "level"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "level"],
                condition=models.Q(resolved_at__isnull=True),
                name="capacity_flag_one_open_per_team_level",
            ),
            models.CheckConstraint(condition=models.Q(level__gte=1, level__lte=3), name="capacity_flag_level_1_to_3"),
        ]

    def __str__(self) -> str:
        return f"Capacity flag of {self.team} at level {self.level}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
