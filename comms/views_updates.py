"""The customer update preview page and the send action of the entry page's panel, and the bulk page of the cycle queue."""

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backlog import selectors as backlog_selectors
from backlog.models import BacklogEntry
from backlog.permissions import role_required

from .models import CustomerUpdate, MessageStage
from .selectors import overdue_entries
from .services.updates import UpdateRejected, update_preview, update_previews, update_send, updates_bulk_send

# Maximum length of a re-send reason, as for the reasons of other timeline events.
REASON_MAX_LENGTH = 500
# Maximum entries one bulk send accepts, so one request cannot run for minutes.
BULK_MAX_ENTRIES = 200


def _entry_or_404(pk: int) -> BacklogEntry:
    try:
        return BacklogEntry.objects.select_related("channel").get(pk=pk)
    except BacklogEntry.DoesNotExist:
        raise Http404(f"No backlog entry has the id {pk}.") from None


def _valid_stage(value: str | None) -> str | None:
    return value if value in MessageStage.values else None


def _bad_stage(value: str | None) -> HttpResponse:
    return HttpResponseBadRequest(
        f"Invalid stage {value!r}: expected one of {', '.join(MessageStage.values)}.", content_type="text/plain"
    )


@require_GET
@role_required()
def update_preview_page(request: HttpRequest, pk: int) -> HttpResponse:
    """Show the subject and texts the stage's update would have now, with the form that sends it."""
    entry = _entry_or_404(pk)
    stage = _valid_stage(request.GET.get("stage"))
    if stage is None:
        return _bad_stage(request.GET.get("stage"))
    preview = update_preview(entry=entry, stage=stage, now=timezone.now())
    context = {
        "entry": entry,
        "stage": stage,
        "stage_label": MessageStage(stage).label,
        "preview": preview,
        "needs_reason": preview.earlier is not None and preview.earlier.status != CustomerUpdate.Status.HELD,
        "reason_max_length": REASON_MAX_LENGTH,
    }
    return render(request, "comms/update_preview.html", context)


@role_required()
@require_POST
def update_send_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Send the stage's update, then return to the entry page with what happened."""
    entry = _entry_or_404(pk)
    stage = _valid_stage(request.POST.get("stage"))
    if stage is None:
        return _bad_stage(request.POST.get("stage"))
    reason = request.POST.get("resend_reason", "").strip()
    stage_label = MessageStage(stage).label.lower()
    entry_page = reverse("entry-detail", args=[entry.pk])
    if len(reason) > REASON_MAX_LENGTH:
        messages.error(request, f"The re-send reason has {len(reason)} characters; use at most {REASON_MAX_LENGTH}.")
        return HttpResponseRedirect(entry_page)

    try:
        update = update_send(entry_id=entry.pk, stage=stage, actor=request.user, now=timezone.now(), resend_reason=reason)
    except UpdateRejected as exc:
        messages.error(request, f"The {stage_label} update was not sent. {exc}")
        return HttpResponseRedirect(entry_page)

    if update.status == CustomerUpdate.Status.HELD:
        messages.warning(request, f"The {stage_label} update is held ({update.reason}) and was not queued.")
    else:
        messages.success(request, f"The {stage_label} update is queued for {entry.customer_email}.")
    return HttpResponseRedirect(entry_page)


@role_required()
def bulk_updates_page(request: HttpRequest) -> HttpResponse:
    """List the latest cycle's queue with each entry's preview of a stage (GET), or send the selected ones (POST)."""
    if request.method == "POST":
        return _bulk_send(request)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET", "POST"])

    raw_stage = request.GET.get("stage", MessageStage.INTAKE)
    stage = _valid_stage(raw_stage)
    if stage is None:
        return _bad_stage(raw_stage)
    now = timezone.now()
    overdue = request.GET.get("overdue") == "1"
    if overdue:
        # The dashboard's overdue counts link here: list those entries instead of the queue.
        cycle = None
        entries = overdue_entries(stage=stage, now=now)
    else:
        cycle = backlog_selectors.latest_cycle()
        entries = backlog_selectors.cycle_queue(cycle) if cycle is not None else []
    previews = update_previews(entries=entries, stage=stage, now=now)
    context = {
        "cycle": cycle,
        "overdue": overdue,
        "stage": stage,
        "stage_label": MessageStage(stage).label,
        "stages": MessageStage.choices,
        "rows": [(entry, previews[entry.pk]) for entry in entries],
    }
    return render(request, "comms/bulk_updates.html", context)


def _bulk_send(request: HttpRequest) -> HttpResponse:
    stage = _valid_stage(request.POST.get("stage"))
    if stage is None:
        return _bad_stage(request.POST.get("stage"))
    raw_ids = request.POST.getlist("entry")
    if not all(value.isdigit() for value in raw_ids):
        return HttpResponseBadRequest("Invalid entry id: every selected entry must be a number.", content_type="text/plain")
    # dict.fromkeys drops repeated ids and keeps the order of the page.
    entry_ids = list(dict.fromkeys(int(value) for value in raw_ids))
    if len(entry_ids) > BULK_MAX_ENTRIES:
        return HttpResponseBadRequest(
            f"{len(entry_ids)} entries were selected; send at most {BULK_MAX_ENTRIES} at once.", content_type="text/plain"
        )
    if not entry_ids:
        messages.error(request, "No entry was selected, so no update was sent.")
        return HttpResponseRedirect(f"{reverse('bulk-updates')}?stage={stage}")

    results = updates_bulk_send(entry_ids=entry_ids, stage=stage, actor=request.user, now=timezone.now())
    context = {
        "stage": stage,
        "stage_label": MessageStage(stage).label,
        "results": results,
        "counts": {kind: sum(1 for result in results if result.outcome == kind) for kind in ("queued", "held", "rejected")},
    }
    return render(request, "comms/bulk_results.html", context)
