"""Rows of the escalation review: an escalation, its display values and a message."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from backlog.forms.decisions import LOCAL_INPUT_FORMAT, site_zone
from backlog.views.rows import format_age
from triage.models import Escalation


@dataclass
class EscalationRow:
    escalation: Escalation
    now: datetime
    # The heading of the group the row sorts into, empty when the sort does not group.
    group: str = ""
    message: str = ""
    # "error" or "success", for the colour of the message.
    message_kind: str = ""

    @property
    def entry(self):
        return self.escalation.entry

    @property
    def age_text(self) -> str:
        return format_age(self.entry.detected_at, now=self.now)

    @property
    def eta_input(self) -> str:
        """Return the entry's ETA as a datetime-local value in the site's zone, or an empty string."""
        if self.entry.due_at is None:
            return ""
        return timezone.localtime(self.entry.due_at, site_zone()).strftime(LOCAL_INPUT_FORMAT)

    @property
    def eta_passed(self) -> bool:
        return self.entry.due_at is not None and self.entry.due_at < self.now

    @property
    def is_resolved(self) -> bool:
        return self.escalation.status == Escalation.Status.RESOLVED

    @property
    def zone_name(self) -> str:
        return site_zone().key


def group_label(escalation: Escalation, *, sort: str) -> str:
    """Return the group heading of an escalation under `sort`: its level, its team, or nothing."""
    if sort == "level":
        return f"Level {escalation.level}"
    if sort == "team":
        return escalation.entry.team.name if escalation.entry.team else "No team"
    return ""
