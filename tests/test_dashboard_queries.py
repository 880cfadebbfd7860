"""Query counts of the dashboard stay fixed as the backlog grows, and the counts are right.

Every pinned number below includes three queries of the request itself: the session, the
user and the user's groups (roles).
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backlog import selectors
from backlog.models import BacklogEntry, BacklogType, Stage, Status
from tests.factories import ChannelFactory, EntryFactory, UserFactory, resolution_method
from triage.services.cycles import cycle_run

HTMX = {"HTTP_HX_REQUEST": "true"}

# Session, user, groups, latest cycle, counts, escalation badges, overdue update counts,
# queue, staff users, methods, channels.
FULL_PAGE_QUERIES = 11
# Session, user, groups, latest cycle, counts, escalation badges, overdue update counts.
SUMMARY_QUERIES = 7
# Session, user, groups, latest cycle, queue, staff users, methods.
QUEUE_QUERIES = 7
# The queue plus the channel lookup that validates ?channel=.
FILTERED_QUEUE_QUERIES = QUEUE_QUERIES + 1

pytestmark = pytest.mark.django_db


def make_backlog(count: int) -> None:
    """Create `count` open entries in two channels, some owned, spread over ten days."""
    now = timezone.now()
    web = ChannelFactory(code="web", name="Web shop")
    store = ChannelFactory(code="store", name="Store pick-up")
    owner = UserFactory(username="owner-olga", first_name="Olga", roles=["lead"])
    method = resolution_method("expedite")
    types = BacklogType.values
    BacklogEntry.objects.bulk_create(
        [
            BacklogEntry(
                source="bulk",
                external_ref=f"BULK-{n:05d}",
                channel=web if n % 2 else store,
                ordered_at=now - timedelta(minutes=15 * n + 5),
                detected_at=now - timedelta(minutes=15 * n + 5),
                stage=Stage.AWAITING_HANDOVER,
                backlog_type=types[n % len(types)],
                classification_reasons=[
                    {"signal": "handover_late", "type": "processing", "label": "Late", "values": {}}
                ],
                owner=owner if n % 3 == 0 else None,
                resolution_method=method if n % 4 == 0 else None,
                due_at=now + timedelta(days=1) if n % 5 == 0 else None,
            )
            for n in range(count)
        ],
        batch_size=500,
    )
    cycle_run(now=now)


@pytest.fixture(params=[10, 1000], ids=["10-entries", "1000-entries"])
def backlog(request):
    make_backlog(request.param)
    return request.param


def test_full_page_queries_fixed(client, lead, backlog, django_assert_num_queries):
    client.force_login(lead)

    with django_assert_num_queries(FULL_PAGE_QUERIES):
        response = client.get(reverse("dashboard"))

    assert response.status_code == 200
    assert len(response.context["rows"]) == response.context["cycle"].queued > 0


def test_full_page_queries_fixed_for_support(client, support, backlog, django_assert_num_queries):
    client.force_login(support)

    with django_assert_num_queries(FULL_PAGE_QUERIES):
        response = client.get(reverse("dashboard"))

    assert response.status_code == 200


def test_summary_partial_queries_fixed(client, lead, backlog, django_assert_num_queries):
    client.force_login(lead)

    with django_assert_num_queries(SUMMARY_QUERIES):
        response = client.get(reverse("dashboard"), HTTP_HX_TARGET="summary-panel", **HTMX)

    assert response.content.decode().count(f'<td class="num total grand-total">{backlog}</td>') == 1


def test_queue_partial_queries_fixed(client, lead, backlog, django_assert_num_queries):
    client.force_login(lead)

    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("dashboard"), HTTP_HX_TARGET="queue-panel", **HTMX)

    assert response.status_code == 200


@pytest.mark.parametrize("page_size", [10, 50])
def test_filtered_fragment_queries_same_for_page_sizes(
    client, lead, page_size, django_assert_num_queries
):
    make_backlog(200)
    client.force_login(lead)

    with django_assert_num_queries(FILTERED_QUEUE_QUERIES):
        response = client.get(
            reverse("dashboard"),
            {"channel": "web", "page_size": page_size},
            HTTP_HX_TARGET="queue-panel",
            **HTMX,
        )

    assert len(response.context["rows"]) == page_size


def test_deep_page_costs_the_same_as_the_first(client, lead, django_assert_num_queries):
    make_backlog(300)
    client.force_login(lead)
    params = {"scope": "open", "page_size": "50"}
    for _ in range(4):
        response = client.get(reverse("dashboard"), params, HTTP_HX_TARGET="queue-panel", **HTMX)
        last_entry = response.context["rows"][-1].entry
        params = {**params, "after": selectors.encode_cursor(last_entry)}

    with django_assert_num_queries(QUEUE_QUERIES):
        response = client.get(reverse("dashboard"), params, HTTP_HX_TARGET="queue-panel", **HTMX)

    assert len(response.context["rows"]) == 50


def test_open_entries_page_runs_no_offset_or_count(lead):
    make_backlog(120)
    queryset = BacklogEntry.objects.open()
    first = selectors.open_entries_page(queryset, after=None, page_size=50)

    with CaptureQueriesContext(connection) as captured:
        second = selectors.open_entries_page(queryset, after=first.next_cursor, page_size=50)

    assert len(captured.captured_queries) == 1
    sql = captured.captured_queries[0]["sql"].upper()
    assert "OFFSET" not in sql
    assert "COUNT(" not in sql
    assert {entry.pk for entry in first.entries}.isdisjoint(entry.pk for entry in second.entries)


def test_counts_run_one_aggregate_query(django_assert_num_queries):
    make_backlog(50)

    with django_assert_num_queries(1):
        counts = selectors.open_counts_by_type_and_age(now=timezone.now())

    assert counts.total == 50


def test_counts_put_each_entry_in_one_cell():
    make_backlog(1000)

    counts = selectors.open_counts_by_type_and_age(now=timezone.now())

    assert counts.total == 1000
    assert sum(counts.column_totals) == 1000
    assert len(counts.rows) == len(BacklogType.values)


@pytest.mark.parametrize(
    ("age", "bucket"),
    [
        (timedelta(hours=4) - timedelta(seconds=1), 0),
        (timedelta(hours=4), 1),
        (timedelta(hours=24) - timedelta(seconds=1), 1),
        (timedelta(hours=24), 2),
        (timedelta(hours=168) - timedelta(seconds=1), 3),
        (timedelta(hours=168), 4),
    ],
)
def test_counts_age_band_boundaries(age, bucket):
    now = timezone.now()
    EntryFactory(ordered_at=now - age, detected_at=now - age, backlog_type=BacklogType.ALLOCATION)

    counts = selectors.open_counts_by_type_and_age(now=now)

    allocation = next(row for row in counts.rows if row.backlog_type == BacklogType.ALLOCATION)
    expected = [0] * len(counts.buckets)
    expected[bucket] = 1
    assert allocation.cells == expected
    assert selectors.age_bucket_index(now - age, now=now) == bucket


def test_counts_skip_closed_entries():
    now = timezone.now()
    EntryFactory(status=Status.RESOLVED)
    EntryFactory(status=Status.ON_HOLD)

    counts = selectors.open_counts_by_type_and_age(now=now)

    assert counts.total == 1


def test_counts_put_future_detection_in_youngest_band():
    now = timezone.now()
    EntryFactory(ordered_at=now, detected_at=now + timedelta(minutes=5))

    counts = selectors.open_counts_by_type_and_age(now=now)

    assert counts.column_totals[0] == 1


def test_staff_users_lists_each_role_holder_once():
    both = UserFactory(username="both-roles", roles=["lead", "support"])
    UserFactory(username="no-role")
    UserFactory(username="gone", roles=["lead"], is_active=False)
    Group.objects.get_or_create(name="unrelated")

    users = list(selectors.staff_users())

    assert users == [both]


@pytest.mark.parametrize("text", [None, "", "abc", "12", "-5", "99999999999999999999999-1"])
def test_decode_cursor_rejects_malformed_text(text):
    assert selectors.decode_cursor(text) is None


def test_cursor_round_trips():
    entry = EntryFactory()

    detected_at, pk = selectors.decode_cursor(selectors.encode_cursor(entry))

    assert (detected_at, pk) == (entry.detected_at, entry.pk)


@pytest.mark.parametrize(("value", "expected"), [(None, 25), ("abc", 25), ("0", 25), ("10", 10), ("5000", 200)])
def test_page_size_from(value, expected):
    assert selectors.page_size_from(value) == expected


def test_queries_use_open_partial_indexes(uses_postgres):
    make_backlog(200)
    now = timezone.now()
    page_queryset = selectors.with_row_relations(BacklogEntry.objects.open()).order_by(
        "detected_at", "id"
    )[:51]
    with connection.cursor() as cursor:
        # The planner prefers a sequential scan on a small table; forbid it to see whether
        # the partial index matches the query's condition at all.
        cursor.execute("ANALYZE backlog_backlogentry")
        cursor.execute("SET LOCAL enable_seqscan = off")
        page_plan = page_queryset.explain()
        counts_plan = BacklogEntry.objects.open().filter(backlog_type="demand", detected_at__lte=now).explain()

    assert "entry_open_age_idx" in page_plan
    assert "entry_open_type_age_idx" in counts_plan or "entry_open_age_idx" in counts_plan
