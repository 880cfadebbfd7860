"""The CSV download of open backlog entries, filtered like the dashboard."""

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from backlog.permissions import role_required
from backlog.services.export import ExportFilterError, export_csv_lines, export_queryset

logger = logging.getLogger(__name__)


@require_GET
@role_required()
def export_csv(request: HttpRequest) -> HttpResponse:
    """Stream the open entries the query parameters select, as a CSV attachment."""
    now = timezone.now()
    try:
        queryset = export_queryset(request.GET, now=now)
    except ExportFilterError as exc:
        logger.info("Rejected the export filter of user %s: %s", request.user.pk, exc)
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(
        export_csv_lines(queryset), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="backlog-{now:%Y%m%d-%H%M}.csv"'
    return response
