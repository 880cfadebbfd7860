"""Triage pages: the recent cycles, and the managers' review of escalations and capacity flags."""

import logging
from collections.abc import Callable
from datetime import datetime

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from backlog.models import Channel, Team
from backlog.permissions import role_required
from backlog.roles import Role, has_any_role
from backlog.selectors import staff_users
from backlog.services.entries import EntryClosedError, StaleEntryError
from backlog.views.typing import HtmxHttpRequest

from .forms import (
    SORT_LABELS,
    STATUS_FILTERS,
    CommentForm,
    EscalationFilterForm,
    EtaForm,
    FlagResolveForm,
    NoteForm,
    ReassignForm,
    form_problems,
)
from .models import CapacityFlag, Escalation
from .rows import EscalationRow, group_label
from .selectors import open_capacity_flags, recent_cycles, review_escalations
from .services.capacity import CapacityFlagResolvedError, capacity_flag_resolve
from .services.review import (
    EscalationStateError,
    escalation_acknowledge,
    escalation_change_eta,
    escalation_comment,
    escalation_reassign,
    escalation_resolve,
)

logger = logging.getLogger(__name__)

# One day of 30-minute slots.
RECENT_CYCLE_COUNT = 48

REVIEW_TEMPLATE = "triage/escalations.html"
ROW_TEMPLATE = "triage/_escalation_row.html"
FLAG_TEMPLATE = "triage/_capacity_flag.html"
# Rows the review screen shows at most. A longer list is better narrowed with the filters
# than scrolled, and the cap keeps the page's rendering time bounded.
REVIEW_ROW_LIMIT = 200
# Leads see the review screen to know what escalated, and only managers and admins act on it.
REVIEW_ROLES = (Role.MANAGER, Role.ADMIN, Role.LEAD)
ACTION_ROLES = frozenset({Role.MANAGER, Role.ADMIN})


class InvalidInput(Exception):
    """Raised by an action when its form is invalid; the message lists the problems."""


@require_GET
@role_required()
def cycle_list(request: HttpRequest) -> HttpResponse:
    context = {"cycles": recent_cycles(limit=RECENT_CYCLE_COUNT), "shown": RECENT_CYCLE_COUNT}
    return render(request, "triage/cycle_list.html", context)


@require_GET
@role_required(*REVIEW_ROLES)
def escalation_review(request: HtmxHttpRequest) -> HttpResponse:
    """List escalations with filters, sorted and grouped by level, age or team, with the open capacity flags on top."""
    now = timezone.now()
    filter_form = EscalationFilterForm(request.GET or None)
    applied = filter_form.applied()
    escalations = review_escalations(
        statuses=STATUS_FILTERS[applied["status"]],
        level=applied["level"],
        team_id=applied["team_id"],
        channel_code=applied["channel_code"],
        sort=applied["sort"],
        limit=REVIEW_ROW_LIMIT + 1,
    )
    context = {
        "rows": [
            EscalationRow(escalation, now=now, group=group_label(escalation, sort=applied["sort"]))
            for escalation in escalations[:REVIEW_ROW_LIMIT]
        ],
        "truncated": len(escalations) > REVIEW_ROW_LIMIT,
        "row_limit": REVIEW_ROW_LIMIT,
        "flags": open_capacity_flags(),
        "applied": applied,
        "invalid_filters": sorted(filter_form.errors),
        "teams": list(Team.objects.all()),
        "channels": list(Channel.objects.all()),
        "status_filters": list(STATUS_FILTERS),
        "sort_labels": SORT_LABELS,
        "return_path": request.get_full_path(),
        **_action_context(request),
    }
    return render(request, REVIEW_TEMPLATE, context)


@role_required(*ACTION_ROLES)
@require_POST
def escalation_acknowledge_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def run(now: datetime) -> str:
        form = _valid(NoteForm(request.POST))
        escalation_acknowledge(escalation_id=pk, actor=request.user, now=now, note=form.cleaned_data["note"])
        return "Acknowledged."

    return _escalation_action(request, pk, run)


@role_required(*ACTION_ROLES)
@require_POST
def escalation_comment_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def run(now: datetime) -> str:
        form = _valid(CommentForm(request.POST))
        escalation_comment(escalation_id=pk, actor=request.user, now=now, body=form.cleaned_data["body"])
        return "Comment added."

    return _escalation_action(request, pk, run)


@role_required(*ACTION_ROLES)
@require_POST
def escalation_reassign_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def run(now: datetime) -> str:
        form = _valid(ReassignForm(request.POST))
        owner = form.cleaned_data["owner"]
        escalation_reassign(
            escalation_id=pk,
            expected_version=form.cleaned_data["version"],
            owner=owner,
            actor=request.user,
            now=now,
            reason=form.cleaned_data["reason"],
        )
        return f"Owner is now {owner.get_full_name() or owner.get_username()}."

    return _escalation_action(request, pk, run)


@role_required(*ACTION_ROLES)
@require_POST
def escalation_eta_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def run(now: datetime) -> str:
        form = _valid(EtaForm(request.POST, now=now))
        escalation_change_eta(
            escalation_id=pk,
            expected_version=form.cleaned_data["version"],
            due_at=form.cleaned_data["due_at"],
            actor=request.user,
            now=now,
            reason=form.cleaned_data["reason"],
        )
        return "ETA changed."

    return _escalation_action(request, pk, run)


@role_required(*ACTION_ROLES)
@require_POST
def escalation_resolve_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    def run(now: datetime) -> str:
        form = _valid(NoteForm(request.POST))
        escalation_resolve(escalation_id=pk, actor=request.user, now=now, note=form.cleaned_data["note"])
        return "Resolved. The entry stays open."

    return _escalation_action(request, pk, run)


@role_required(*ACTION_ROLES)
@require_POST
def capacity_flag_resolve_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Close a capacity flag with the manager's note; an htmx request gets the flag's row back."""
    if not CapacityFlag.objects.filter(pk=pk).exists():
        raise Http404(f"No capacity flag has the id {pk}.")
    form = FlagResolveForm(request.POST)
    status, kind = 200, "success"
    if not form.is_valid():
        status, kind, message = 422, "error", f"Not resolved. {form_problems(form)}"
    else:
        try:
            capacity_flag_resolve(flag_id=pk, actor=request.user, now=timezone.now(), note=form.cleaned_data["note"])
            message = "Resolved."
        except CapacityFlagResolvedError as error:
            logger.info("Rejected resolving capacity flag %s by user %s: %s", pk, request.user.pk, error)
            status, kind, message = 409, "error", str(error)

    if request.htmx:
        flag = CapacityFlag.objects.select_related("team", "resolved_by").get(pk=pk)
        context = {"flag": flag, "message": message, "message_kind": kind, **_action_context(request)}
        return render(request, FLAG_TEMPLATE, context, status=status)
    (messages.success if status == 200 else messages.error)(request, f"Capacity flag: {message}")
    return HttpResponseRedirect(_return_path(request), status=303)


def _escalation_action(request: HtmxHttpRequest, pk: int, run: Callable[[datetime], str]) -> HttpResponse:
    """Run one review action, then return the re-rendered row (htmx) or a redirect with a message.

    The status is 200 when the action was applied, 409 when the escalation or its entry
    changed since the page loaded, and 422 when the input is invalid.
    """
    if not Escalation.objects.filter(pk=pk).exists():
        raise Http404(f"No escalation has the id {pk}.")
    now = timezone.now()
    try:
        message, kind, status = run(now), "success", 200
    except InvalidInput as error:
        message, kind, status = str(error), "error", 422
    except StaleEntryError as error:
        logger.info("Rejected review action on escalation %s by user %s: %s", pk, request.user.pk, error)
        message, kind, status = error.page_message("row" if request.htmx else "page"), "error", 409
    except (EntryClosedError, EscalationStateError) as error:
        logger.info("Rejected review action on escalation %s by user %s: %s", pk, request.user.pk, error)
        message, kind, status = str(error), "error", 409

    escalation = review_escalations(statuses=list(Escalation.Status), escalation_id=pk, limit=1)[0]
    if request.htmx:
        row = EscalationRow(escalation, now=now, message=message, message_kind=kind)
        context = {"row": row, "return_path": _return_path(request), **_action_context(request)}
        return render(request, ROW_TEMPLATE, context, status=status)

    if status == 409:
        # Stale, closed and status messages already name the entry.
        messages.error(request, message)
    else:
        text = f"{escalation.entry.reference}, level {escalation.level}: {message}"
        (messages.success if status == 200 else messages.error)(request, text)
    return HttpResponseRedirect(_return_path(request), status=303)


def _valid(form: forms.Form) -> forms.Form:
    if not form.is_valid():
        raise InvalidInput(f"Not saved. {form_problems(form)}")
    return form


def _action_context(request: HtmxHttpRequest) -> dict:
    """Return whether the user may act, and the people an entry can be reassigned to."""
    can_review = has_any_role(request.user, ACTION_ROLES)
    users = list(staff_users()) if can_review else []
    return {"can_review": can_review, "users": users, "user_ids": {user.pk for user in users}}


def _return_path(request: HtmxHttpRequest) -> str:
    """Return the page the form came from, or the review screen when `next` is missing or foreign."""
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("escalation-review")
