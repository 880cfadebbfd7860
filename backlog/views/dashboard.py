"""The triage lead's dashboard: the cycle on duty, counts by type and age, and the queue."""

from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_htmx.middleware import HtmxDetails

from backlog import selectors
from backlog.filters import FILTER_PARAMS, FLAG_PARAMS, EntryFilter
from backlog.models import BacklogType, Channel, Stage
from backlog.permissions import role_required
from comms.selectors import overdue_update_counts
from triage.selectors import escalation_badges
from triage.services.slots import next_slot_start, slot_start_for

from .rows import QueueRow
from .typing import HtmxHttpRequest

TEMPLATE = "backlog/dashboard.html"
# Element ids the polling panels send as HX-Target; each selects one partial of TEMPLATE.
SUMMARY_PANEL_ID = "summary-panel"
QUEUE_PANEL_ID = "queue-panel"
# Query parameters that shape the queue besides the filters.
PAGING_PARAMS = ("scope", "after", "page_size")
PAGE_SIZE_CHOICES = (10, 25, 50, 100)


@require_GET
@role_required()
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    now = timezone.now()
    htmx: HtmxDetails = request.htmx
    cycle = selectors.latest_cycle()

    if htmx and htmx.target == SUMMARY_PANEL_ID:
        response = render(request, f"{TEMPLATE}#summary", _summary_context(cycle, now=now))
    elif htmx and htmx.target == QUEUE_PANEL_ID:
        response = render(request, f"{TEMPLATE}#queue", _queue_context(request, cycle, now=now))
    else:
        context = {
            **_summary_context(cycle, now=now),
            **_queue_context(request, cycle, now=now),
            "channels": list(Channel.objects.all()),
            "backlog_types": BacklogType.choices,
            "stages": Stage.choices,
        }
        response = render(request, TEMPLATE, context)
    # A partial and the full page share one URL, so caches must key on the htmx header.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def _summary_context(cycle, *, now: datetime) -> dict:
    slot_start = slot_start_for(now)
    return {
        "now": now,
        "slot_start": slot_start,
        "slot_end": next_slot_start(slot_start),
        "cycle": cycle,
        "cycle_is_current": _is_current(cycle, now=now),
        "counts": selectors.open_counts_by_type_and_age(now=now),
        "escalation_badges": escalation_badges(now=now),
        "overdue_updates": overdue_update_counts(now=now),
        "summary_panel_id": SUMMARY_PANEL_ID,
        "zone_name": settings.TIME_ZONE,
    }


def _queue_context(request: HtmxHttpRequest, cycle, *, now: datetime) -> dict:
    filterset = EntryFilter(request.GET or None, now=now)
    invalid_filters = filterset.invalid_params
    # Invalid filter values are dropped with a note, so the queue, its links and the polling
    # use only the filters that apply.
    applied_params = tuple(name for name in FILTER_PARAMS if name not in filterset.form.errors)
    show_open_entries = (
        filterset.is_active or bool(invalid_filters) or request.GET.get("scope") == "open"
    )
    next_cursor = None
    page_size = selectors.page_size_from(request.GET.get("page_size"))
    if show_open_entries:
        page = selectors.open_entries_page(
            filterset.qs, after=request.GET.get("after"), page_size=page_size
        )
        entries, next_cursor = page.entries, page.next_cursor
    elif cycle is not None:
        entries = selectors.cycle_queue(cycle)
    else:
        entries = []

    # Loaded once for every row's owner select and the owner filter.
    users = list(selectors.staff_users())
    filter_query = _query_of(request.GET, applied_params)
    page_query = _query_of(request.GET, (*applied_params, *PAGING_PARAMS))
    next_query = None
    if next_cursor:
        next_query = _query_of(
            request.GET, (*applied_params, "scope", "page_size"), after=next_cursor
        )
    return {
        "now": now,
        "cycle": cycle,
        "cycle_is_current": _is_current(cycle, now=now),
        "filterset": filterset,
        "invalid_filters": invalid_filters,
        "filters": _filter_values(request.GET, filterset, applied_params),
        "show_open_entries": show_open_entries,
        "is_deep_page": bool(request.GET.get("after")),
        "rows": [QueueRow.of(entry, now=now) for entry in entries],
        "users": users,
        "user_ids": {user.pk for user in users},
        "methods": list(selectors.active_methods()),
        "page_size": page_size,
        "page_sizes": sorted({*PAGE_SIZE_CHOICES, page_size}),
        "filter_query": filter_query,
        "page_query": page_query,
        "next_query": next_query,
        # Where a row's form sends the browser back to when JavaScript is off.
        "return_path": request.get_full_path(),
        "queue_panel_id": QUEUE_PANEL_ID,
        "zone_name": settings.TIME_ZONE,
    }


def _filter_values(params: QueryDict, filterset: EntryFilter, applied: tuple[str, ...]) -> dict:
    """Return the value each filter input shows: the submitted text, or a bool for a flag."""
    values = {name: params.get(name, "") for name in applied}
    cleaned = filterset.form.cleaned_data if filterset.is_bound else {}
    for name in FLAG_PARAMS:
        # The text "0" would read as true in a template, so flags carry their parsed value.
        values[name] = bool(cleaned.get(name))
    return values


def _is_current(cycle, *, now: datetime) -> bool:
    return cycle is not None and cycle.slot_start == slot_start_for(now)


def _query_of(params: QueryDict, names: tuple[str, ...], **extra: str) -> str:
    """Encode the non-empty parameters among `names`, plus `extra`, as a query string."""
    pairs = [(name, params[name]) for name in names if params.get(name)]
    pairs.extend(extra.items())
    return urlencode(pairs)

