"""Middleware that protects every view."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# Room for the form fields and multipart boundaries around the largest allowed upload.
FORM_OVERHEAD_BYTES = 1024 * 1024


class RequestSizeLimitMiddleware:
    """Reject a request body larger than the largest allowed upload before anything reads it.

    The CSRF check reads the whole POST body, even for a signed-out user, so without this an
    oversized upload is read into the web process before any view can refuse it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.IMPORT_MAX_UPLOAD_BYTES + FORM_OVERHEAD_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return HttpResponse("Invalid Content-Length header.", status=400, content_type="text/plain")
        if length > limit:
            return HttpResponse(
                f"The request body has {length:,} bytes; the limit is {limit:,} bytes. "
                "Import larger files with manage.py import_orders.",
                status=413,
                content_type="text/plain",
            )
        return self.get_response(request)
