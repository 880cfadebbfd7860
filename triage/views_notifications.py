"""The signed-in user's in-app notifications, unread first, with a "mark read" button."""

from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from backlog.permissions import role_required
from comms.models import Notification
from comms.services.notifications import notification_mark_read

NOTIFICATIONS_PER_PAGE = 50


@require_GET
@role_required()
def notification_list(request: HttpRequest) -> HttpResponse:
    notifications = (
        Notification.objects.filter(recipient=request.user)
        .select_related("escalation__entry__channel")
        .order_by(F("read_at").desc(nulls_first=True), "-created_at", "-id")
    )
    page = Paginator(notifications, NOTIFICATIONS_PER_PAGE).get_page(request.GET.get("page"))
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True).count()
    return render(request, "triage/notifications.html", {"page": page, "unread": unread})


@require_POST
@role_required()
def notification_read(request: HttpRequest, pk: int) -> HttpResponse:
    # Someone else's notification or one read already changes nothing, and the list shows
    # the current state either way.
    notification_mark_read(notification_id=pk, user=request.user, now=timezone.now())
    return redirect("notification-list")
