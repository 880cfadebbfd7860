"""The customer update preview page and the send action, both reached from the entry page's panel."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backlog.models import BacklogEntry
from backlog.permissions import role_required

from .models import CustomerUpdate, MessageStage
from .services.updates import UpdateRejected, update_preview, update_send

# Maximum length of a re-send reason, as for the reasons of other timeline events.
REASON_MAX_LENGTH = 500


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
