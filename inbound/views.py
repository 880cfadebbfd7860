"""The entry's contact list and the "customer contacted us" form posted from the entry page."""


from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backlog.models import BacklogEntry
from backlog.permissions import role_required

from .forms import ContactForm
from .selectors import entry_contacts
from .services import ContactRejected, contact_log


LOGGED_MESSAGE = "Contact logged."


def _entry_or_404(pk: int) -> BacklogEntry:
    try:
        return BacklogEntry.objects.select_related("channel").get(pk=pk)
    except BacklogEntry.DoesNotExist:
        raise Http404(f"No backlog entry has the id {pk}.") from None


@require_GET
@role_required()
def entry_contacts_page(request: HttpRequest, pk: int) -> HttpResponse:
    entry = _entry_or_404(pk)
    context = {"entry": entry, "contacts": entry_contacts(pk), "form": ContactForm()}
    return render(request, "inbound/entry_contacts.html", context)


@role_required()
@require_POST
def contact_log_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Log one contact, then return to the entry page with a message."""
    entry = _entry_or_404(pk)
    entry_page = reverse("entry-detail", args=[entry.pk])
    form = ContactForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(
            f"{form[name].label}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
        messages.error(request, f"The contact was not logged. {problems}")
        return HttpResponseRedirect(entry_page)

    now = timezone.now()
    try:
        contact_log(
            entry_id=entry.pk,
            channel=form.cleaned_data["channel"],
            note=form.cleaned_data["note"],
            received_at=form.cleaned_data["received_at"] or now,
            actor=request.user,
            now=now,
        )
    except ContactRejected as exc:
        messages.error(request, f"The contact was not logged. {exc}")
    else:
        messages.success(request, LOGGED_MESSAGE)
    return HttpResponseRedirect(entry_page)
