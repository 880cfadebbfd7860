"""The editor of customer message templates, for managers and admins."""

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from backlog.models import BacklogType, Channel
from backlog.permissions import role_required
from backlog.roles import Role
from backlog.views.typing import HtmxHttpRequest
from triage.services.slots import next_slot_start, slot_start_for

from .forms import MessageTemplateForm, PreviewForm
from .models import MessageStage, MessageTemplate
from .placeholders import PLACEHOLDERS
from .services.templates import RenderedMessage, active_templates, render_update, template_save

EDITOR_ROLES = (Role.MANAGER, Role.ADMIN)
EDIT_TEMPLATE = "comms/template_edit.html"
# Earlier versions the edit page lists below the form.
HISTORY_LENGTH = 20


@role_required(*EDITOR_ROLES)
@require_http_methods(["GET"])
def template_list(request: HtmxHttpRequest) -> HttpResponse:
    """Show the active template of every backlog type and stage, with its channel-specific variants."""
    by_key: dict[tuple[str, str], list[MessageTemplate]] = {}
    for template in active_templates():
        by_key.setdefault((template.backlog_type, template.stage), []).append(template)
    rows = [
        {
            "backlog_type": backlog_type,
            "cells": [
                {"stage": stage, "templates": by_key.get((backlog_type.value, stage.value), [])}
                for stage in MessageStage
            ],
        }
        for backlog_type in BacklogType
    ]
    return render(request, "comms/template_list.html", {"rows": rows, "stages": list(MessageStage)})


@role_required(*EDITOR_ROLES)
@require_http_methods(["GET", "POST"])
def template_edit(request: HtmxHttpRequest, backlog_type: str, stage: str) -> HttpResponse:
    """Show the active version in a form, and save a valid submission as the next version."""
    _check_key(backlog_type, stage)
    channel = _channel_from_query(request)
    unsaved = MessageTemplate(backlog_type=backlog_type, stage=stage, channel=channel)

    if request.method == "POST":
        form = MessageTemplateForm(request.POST, instance=unsaved)
        if form.is_valid():
            saved = template_save(
                backlog_type=backlog_type,
                stage=stage,
                channel=form.cleaned_data["channel"],
                subject=form.cleaned_data["subject"],
                body_text=form.cleaned_data["body_text"],
                body_html=form.cleaned_data["body_html"],
                actor=request.user,
                now=timezone.now(),
            )
            messages.success(request, f"Saved {saved}.")
            return HttpResponseRedirect(reverse("message-template-list"))
    else:
        current = _versions(backlog_type, stage, channel).first()
        initial = {"channel": channel}
        if current is not None:
            initial |= {"subject": current.subject, "body_text": current.body_text, "body_html": current.body_html}
        form = MessageTemplateForm(initial=initial, instance=unsaved)

    context = {
        "form": form,
        "backlog_type": BacklogType(backlog_type),
        "stage": MessageStage(stage),
        "channel": channel,
        "history": list(_versions(backlog_type, stage, channel).select_related("created_by")[:HISTORY_LENGTH]),
        "placeholders": PLACEHOLDERS,
        "reference": request.GET.get("reference", ""),
    }
    return render(request, EDIT_TEMPLATE, context)


@role_required(*EDITOR_ROLES)
@require_POST
def template_preview(request: HtmxHttpRequest, backlog_type: str, stage: str) -> HttpResponse:
    """Render the unsaved form for a real entry, and return only the preview panel."""
    _check_key(backlog_type, stage)
    form = PreviewForm(request.POST, instance=MessageTemplate(backlog_type=backlog_type, stage=stage))
    context: dict = {"preview_form": form, "rendered": None, "held": None}
    if form.is_valid():
        now = timezone.now()
        # The preview assumes the next update goes out with the next triage slot.
        outcome = render_update(
            form.instance, form.cleaned_data["reference"], now=now, next_update_at=next_slot_start(slot_start_for(now))
        )
        context["entry"] = form.cleaned_data["reference"]
        context["rendered" if isinstance(outcome, RenderedMessage) else "held"] = outcome
    return render(request, f"{EDIT_TEMPLATE}#preview", context)


def _check_key(backlog_type: str, stage: str) -> None:
    if backlog_type not in BacklogType.values or stage not in MessageStage.values:
        raise Http404(f"No message template for type {backlog_type!r} and stage {stage!r}.")


def _channel_from_query(request: HtmxHttpRequest) -> Channel | None:
    code = request.GET.get("channel", "")
    if not code:
        return None
    channel = Channel.objects.filter(code=code).first()
    if channel is None:
        raise Http404(f"Channel {code!r} was not found.")
    return channel


def _versions(backlog_type: str, stage: str, channel: Channel | None):
    return MessageTemplate.objects.filter(backlog_type=backlog_type, stage=stage, channel=channel).order_by("-version")
