"""The customer update panel that the entry page includes: each update's status and the stages to send."""

from django import template

from comms.models import CustomerUpdate, MessageStage

register = template.Library()


@register.inclusion_tag("comms/update_panel.html")
def update_panel(entry) -> dict:
    updates = list(
        CustomerUpdate.objects.filter(entry_id=entry.pk)
        .select_related("outbox_message", "created_by")
        .order_by("created_at", "id")
    )
    return {"entry": entry, "updates": updates, "stages": MessageStage.choices}


@register.filter
def update_state(update: CustomerUpdate) -> str:
    """Return what happened to the update: the outbox row's status once queued, else held or skipped."""
    if update.status == CustomerUpdate.Status.QUEUED and update.outbox_message is not None:
        return update.outbox_message.get_status_display().lower()
    return update.get_status_display().lower()
