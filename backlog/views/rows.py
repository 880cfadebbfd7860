"""Editable queue rows: an entry, the values in its inputs and a message."""

from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from backlog.forms.decisions import LOCAL_INPUT_FORMAT, DecisionForm, site_zone
from backlog.models import BacklogEntry
from backlog.selectors import age_bucket_index



def format_age(since: datetime, *, now: datetime) -> str:
    """Format the time from `since` to `now` such as "2 d 4 h", "7 h" or "35 min"."""
    minutes = max(int((now - since).total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h"
    return f"{minutes} min"


@dataclass
class QueueRow:
    """An entry with its input values; after a failed save the inputs keep what was typed."""

    entry: BacklogEntry
    now: datetime
    owner: str = ""
    method: str = ""
    eta: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)
    message: str = ""
    # "error" or "success", for the colour of the message.
    message_kind: str = ""

    @classmethod
    def of(cls, entry: BacklogEntry, *, now: datetime, **extra) -> "QueueRow":
        """Return a row whose inputs show the entry's stored values."""
        eta = ""
        if entry.due_at is not None:
            eta = timezone.localtime(entry.due_at, site_zone()).strftime(LOCAL_INPUT_FORMAT)
        return cls(
            entry=entry,
            now=now,
            owner=str(entry.owner_id or ""),
            method=str(entry.resolution_method_id or ""),
            eta=eta,
            **extra,
        )

    @classmethod
    def of_invalid(cls, entry: BacklogEntry, form: DecisionForm, *, now: datetime) -> "QueueRow":
        """Return a row that keeps the submitted values and shows the form's errors."""
        row = cls.of(entry, now=now)
        row.owner = form.data.get("owner", row.owner)
        row.method = form.data.get("resolution_method", row.method)
        row.eta = form.data.get("due_at", row.eta)
        row.errors = {name: list(messages) for name, messages in form.errors.items()}
        row.message = "Not saved: correct the marked fields."
        row.message_kind = "error"
        return row

    @property
    def zone_name(self) -> str:
        return site_zone().key

    @property
    def age_bucket(self) -> int:
        return age_bucket_index(self.entry.detected_at, now=self.now)

    @property
    def age_text(self) -> str:
        return format_age(self.entry.detected_at, now=self.now)

    @property
    def overdue(self) -> bool:
        return self.entry.due_at is not None and self.entry.due_at < self.now

    @property
    def decided(self) -> bool:
        item = getattr(self.entry, "queue_item", None)
        return item is not None and item.decided_at is not None

    @property
    def error_list(self) -> list[str]:
        """Return every field error as "Field: message", for the message line of the row."""
        labels = {"owner": "Owner", "resolution_method": "Method", "due_at": "ETA", "version": "Version"}
        return [
            f"{labels.get(name, name)}: {message}" if name != "__all__" else message
            for name, messages in self.errors.items()
            for message in messages
        ]
