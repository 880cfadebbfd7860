"""Triage pages: the recent cycles with their pair on duty and progress."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from backlog.permissions import role_required

from .selectors import recent_cycles

# One day of 30-minute slots.
RECENT_CYCLE_COUNT = 48


@require_GET
@role_required()
def cycle_list(request: HttpRequest) -> HttpResponse:
    context = {"cycles": recent_cycles(limit=RECENT_CYCLE_COUNT), "shown": RECENT_CYCLE_COUNT}
    return render(request, "triage/cycle_list.html", context)
