"""Display helpers for Triage Desk pages: people, signals and timeline values."""

import re
from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@register.filter
def person(user) -> str:
    """Return a user's full name, or their user name when it is empty."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@register.filter
def signal_name(signal: str) -> str:
    """Turn a signal code such as handover_late into the short tag text "handover late"."""
    return str(signal).replace("_", " ")


@register.filter
def change_value(value) -> str:
    """Format a value stored in a timeline change for display.

    Datetimes are stored as ISO text in UTC and shown in the site's zone; lists are joined.
    """
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(str(item).replace("_", " ") for item in value)
    if isinstance(value, str) and _ISO_DATETIME.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if timezone.is_aware(moment):
            moment = timezone.localtime(moment)
        return moment.strftime("%Y-%m-%d %H:%M")
    return str(value)


@register.filter
def field_label(name: str) -> str:
    """Label a changed field of a timeline event: due_at reads "ETA", others in words."""
    labels = {"due_at": "ETA", "resolution_method": "method", "backlog_type": "type"}
    return labels.get(name, name.replace("_", " "))


@register.filter
def keep_hyphenated(text: str) -> str:
    """Swap hyphens for non-breaking ones, so "hand-over" never wraps in a narrow column."""
    return str(text).replace("-", "\u2011")


@register.filter
def queue_reasons(codes: list[str]) -> str:
    """Turn the reason codes of a cycle item into one phrase, such as "No owner, no ETA"."""
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import reasons_text

    text = reasons_text(codes)
    return text[0].upper() + text[1:] if text else "—"
