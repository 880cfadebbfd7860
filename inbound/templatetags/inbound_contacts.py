"""The contact panel that the entry page includes: the count, a link to the list and the form."""

from django import template

from inbound.forms import ContactForm
from inbound.models import InboundContact

register = template.Library()


@register.inclusion_tag("inbound/_contact_panel.html")
def contact_panel(entry) -> dict:
    return {
        "entry": entry,
        "contact_count": InboundContact.objects.filter(entry_id=entry.pk).count(),
        "form": ContactForm(),
    }
