"""The upload page of the generic CSV import: upload, dry-run preview, then confirm."""

import logging

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from backlog.forms.imports import ImportConfirmForm, ImportUploadForm
from backlog.permissions import role_required
from backlog.roles import IMPORT_ROLES
from backlog.services.imports import import_generic
from backlog.services.imports.pending import (
    PendingUploadError,
    pending_discard,
    pending_load,
    pending_save,
)

logger = logging.getLogger(__name__)

TEMPLATE = "backlog/import.html"


@require_http_methods(["GET", "POST"])
@role_required(*IMPORT_ROLES)
def import_upload(request: HttpRequest) -> HttpResponse:
    """Show the upload form; a POST previews the file, and a confirming POST imports it."""
    if request.method == "GET":
        return render(request, TEMPLATE, {"form": ImportUploadForm()})
    if "pending" in request.POST:
        return _confirm(request)
    return _preview(request)


def _preview(request: HttpRequest) -> HttpResponse:
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, TEMPLATE, {"form": form}, status=400)

    data = form.cleaned_data["file"].read()
    options = form.generic_options()
    report = import_generic(
        data, options=options, actor=request.user, now=timezone.now(), dry_run=True
    )
    context = {"form": form, "report": report, "options": options, "step": "preview"}
    if report.ok:
        context["confirm_form"] = ImportConfirmForm(
            initial={"pending": pending_save(data, user_id=request.user.pk, options=options)}
        )
    return render(request, TEMPLATE, context)


def _confirm(request: HttpRequest) -> HttpResponse:
    confirm_form = ImportConfirmForm(request.POST)
    if not confirm_form.is_valid():
        context = {
            "form": ImportUploadForm(),
            "problem": "The confirmation is incomplete. Upload the file again.",
        }
        return render(request, TEMPLATE, context, status=400)

    signed = confirm_form.cleaned_data["pending"]
    try:
        data, options = pending_load(signed, user_id=request.user.pk)
    except PendingUploadError as exc:
        logger.info("Rejected the import confirmation of user %s: %s", request.user.pk, exc)
        return render(
            request, TEMPLATE, {"form": ImportUploadForm(), "problem": str(exc)}, status=400
        )

    report = import_generic(
        data, options=options, actor=request.user, now=timezone.now(), dry_run=False
    )
    pending_discard(signed)
    logger.info(
        "User %s imported %s through the upload page: %s",
        request.user.pk,
        options.file_name,
        report.summary(),
    )
    return render(
        request,
        TEMPLATE,
        {"form": ImportUploadForm(), "report": report, "options": options, "step": "done"},
    )
