"""The entry page and the triage decision posted from it or from a dashboard row."""

import logging

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from backlog import selectors
from backlog.forms.decisions import DecisionForm
from backlog.forms.status import StatusForm
from backlog.models import BacklogEntry
from backlog.permissions import role_required
from backlog.roles import TRIAGE_ROLES
from backlog.services.entries import EntryClosedError, StaleEntryError, entry_decide, entry_set_status

from .rows import QueueRow
from .typing import HtmxHttpRequest

logger = logging.getLogger(__name__)

ROW_TEMPLATE = "backlog/_queue_row.html"
SAVED_MESSAGE = "Saved."


@require_GET
@role_required()
def entry_detail(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    try:
        entry = selectors.entry_for_detail(pk)
    except BacklogEntry.DoesNotExist:
        raise Http404(f"No backlog entry has the id {pk}.") from None
    now = timezone.now()
    context = {
        "entry": entry,
        "row": QueueRow.of(entry, now=now),
        "now": now,
        "lines": entry.lines.all(),
        "events": selectors.events_with_person_names(list(entry.events.all())),
        "cycle_items": entry.cycle_items.all(),
        "users": list(selectors.staff_users()),
        "methods": list(selectors.active_methods()),
        "status_form": StatusForm(initial={"status": entry.status, "version": entry.version}),
    }
    return render(request, "backlog/entry_detail.html", context)


@role_required(*TRIAGE_ROLES)
@require_POST
def entry_status_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Put an entry on hold, resolve, close or reopen it, then return to the entry page."""
    if not BacklogEntry.objects.filter(pk=pk).exists():
        raise Http404(f"No backlog entry has the id {pk}.")
    entry_page = reverse("entry-detail", args=[pk])

    form = StatusForm(request.POST)
    if not form.is_valid():
        problems = " ".join(f"{form.fields[name].label}: {' '.join(errors)}" for name, errors in form.errors.items())
        messages.error(request, f"The status was not changed. {problems}")
        return HttpResponseRedirect(entry_page, status=303)

    try:
        entry = entry_set_status(
            entry_id=pk,
            expected_version=form.cleaned_data["version"],
            status=form.cleaned_data["status"],
            actor=request.user,
            now=timezone.now(),
            reason=form.cleaned_data["reason"],
        )
    except StaleEntryError as error:
        logger.info("Rejected status change on entry %s by user %s: %s", pk, request.user.pk, error)
        messages.error(request, error.page_message("page"))
    else:
        messages.success(request, f"{entry.reference} is now {entry.get_status_display().lower()}.")
    return HttpResponseRedirect(entry_page, status=303)


@role_required(*TRIAGE_ROLES)
@require_POST
def entry_decide_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Apply the owner, method and ETA posted from a dashboard row or the entry page.

    An htmx request gets the re-rendered row: 200 when saved, 409 when the entry changed
    since the page loaded or is closed (the row then shows the current values), 422 when
    the input is invalid. A plain form post is redirected back with a message.
    """
    now = timezone.now()
    try:
        entry = selectors.row_entry(pk)
    except BacklogEntry.DoesNotExist:
        raise Http404(f"No backlog entry has the id {pk}.") from None

    form = DecisionForm(request.POST, entry=entry, now=now)
    if not form.is_valid():
        row = QueueRow.of_invalid(entry, form, now=now)
        return _decide_answer(request, row, status=422)

    try:
        entry_decide(
            entry_id=pk,
            expected_version=form.cleaned_data["version"],
            decision=form.decision(),
            actor=request.user,
            now=now,
        )
    except (StaleEntryError, EntryClosedError) as error:
        logger.info("Rejected decision on entry %s by user %s: %s", pk, request.user.pk, error)
        message = str(error)
        if isinstance(error, StaleEntryError):
            # An htmx post gets its row back, and a plain post is sent back to the page it came from.
            message = error.page_message("row" if request.htmx else "page")
        row = QueueRow.of(selectors.row_entry(pk), now=now, message=message, message_kind="error")
        return _decide_answer(request, row, status=409)

    row = QueueRow.of(selectors.row_entry(pk), now=now, message=SAVED_MESSAGE, message_kind="success")
    return _decide_answer(request, row, status=200)


def _decide_answer(request: HtmxHttpRequest, row: QueueRow, *, status: int) -> HttpResponse:
    if request.htmx:
        context = {
            "row": row,
            "users": list(selectors.staff_users()),
            "methods": list(selectors.active_methods()),
            "return_path": _return_path(request),
        }
        context["user_ids"] = {user.pk for user in context["users"]}
        return render(request, ROW_TEMPLATE, context, status=status)

    if status == 200:
        messages.success(request, f"{row.entry.reference}: {SAVED_MESSAGE}")
    elif status == 422:
        details = " ".join(row.error_list)
        messages.error(request, f"{row.entry.reference}: {row.message} {details}".strip())
    else:
        # The stale and closed messages of a 409 already start with the reference.
        messages.error(request, row.message)
    return HttpResponseRedirect(_return_path(request), status=303)


def _return_path(request: HtmxHttpRequest) -> str:
    """Return the page the form came from, or the dashboard when `next` is missing or foreign."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("dashboard")
