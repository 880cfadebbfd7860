"""The dashboard, the entry page and the decision endpoint: roles, rendering and htmx responses."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.forms.decisions import AMBIGUOUS_TIME_MESSAGE, NONEXISTENT_TIME_MESSAGE
from backlog.models import BacklogEntry, Stage, Status, TimelineEvent
from tests.factories import (
    ChannelFactory,
    EntryFactory,
    EntryLineFactory,
    ShiftFactory,
    UserFactory,
    resolution_method,
)
from triage.models import CycleItem
from triage.services.cycles import cycle_run

HTMX_HEADERS = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def channels():
    return ChannelFactory(code="web", name="Web shop"), ChannelFactory(code="store", name="Store pick-up")


@pytest.fixture
def entry(channels):
    return EntryFactory(channel=channels[0], ordered_at=timezone.now() - timedelta(hours=30))


def entry_page(pk: int) -> str:
    return f"/entries/{pk}/"


def decide_url(entry: BacklogEntry) -> str:
    return reverse("entry-decide", args=[entry.pk])


def row_post(client, entry, **fields):
    data = {"version": entry.version, "owner": "", "resolution_method": "", "due_at": "", **fields}
    return client.post(decide_url(entry), data, **HTMX_HEADERS)


def future_local(hours: int) -> str:
    """Return a datetime-local value `hours` from now, in the site's zone."""
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


# Roles


def view_urls(entry) -> list[str]:
    return [reverse("dashboard"), entry_page(entry.pk)]


def test_pages_redirect_anonymous_to_login(client, entry):
    for url in view_urls(entry):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url

    response = client.post(decide_url(entry), {"version": 1})
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_pages_forbid_users_without_role(client, entry, no_role_user):
    client.force_login(no_role_user)

    for url in view_urls(entry):
        assert client.get(url).status_code == 403, url
    assert client.post(decide_url(entry), {"version": 1}).status_code == 403


def test_forbidden_page_explains_the_missing_role(client, entry, no_role_user):
    client.force_login(no_role_user)

    response = client.get(reverse("dashboard"))

    page = response.content.decode()
    assert "Your account has no Triage Desk role." in page
    assert "Ask an admin" in page


def test_support_views_pages_but_cannot_decide(client, entry, support):
    client.force_login(support)

    for url in view_urls(entry):
        assert client.get(url).status_code == 200, url
    response = row_post(client, entry, owner=support.pk)

    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.owner is None


def test_support_sees_no_edit_controls(client, entry, support):
    cycle_run(now=timezone.now())
    client.force_login(support)

    page = client.get(reverse("dashboard")).content.decode()

    assert entry.reference in page
    assert "hx-post" not in page
    assert 'form="decide-' not in page


@pytest.mark.parametrize("role", ["lead", "manager", "admin"])
def test_triage_roles_can_decide(client, entry, role):
    user = UserFactory(username=f"{role}-user", roles=[role])
    client.force_login(user)

    response = row_post(client, entry, owner=user.pk)

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.owner == user


def test_decide_rejects_get(client, entry, lead):
    client.force_login(lead)

    assert client.get(decide_url(entry)).status_code == 405


def test_dashboard_rejects_post(client, lead):
    client.force_login(lead)

    assert client.post(reverse("dashboard")).status_code == 405


# Dashboard top: slot, pair on duty, progress, counts


def test_dashboard_shows_pair_on_duty_and_progress(client, channels, lead, support):
    ShiftFactory(name="All day", starts_at="00:00", ends_at="23:59:59", lead=lead, support=support)
    entries = EntryFactory.create_batch(3, channel=channels[0])
    cycle_run(now=timezone.now())
    CycleItem.objects.filter(entry=entries[0]).update(decided_at=timezone.now())
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert "Anna" in page
    assert "Ben" in page
    assert "1 / 3 decided" in page
    assert "Current slot" in page


def test_dashboard_says_nobody_on_duty(client, entry, lead):
    cycle_run(now=timezone.now())
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert "Nobody on duty" in page


def test_dashboard_says_when_no_cycle_ran(client, entry, lead):
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert "No triage cycle has run yet" in page


def test_dashboard_counts_entries_by_type_and_age(client, channels, lead):
    now = timezone.now()
    EntryFactory(channel=channels[0], ordered_at=now - timedelta(hours=1))
    EntryFactory(channel=channels[0], ordered_at=now - timedelta(days=10))
    client.force_login(lead)

    response = client.get(reverse("dashboard"))

    counts = response.context["counts"]
    unclassified = next(row for row in counts.rows if row.backlog_type == "unclassified")
    assert unclassified.cells == [1, 0, 0, 0, 1]
    assert counts.total == 2


# Queue


def test_queue_lists_cycle_items_oldest_first(client, channels, lead):
    now = timezone.now()
    newer = EntryFactory(channel=channels[0], ordered_at=now - timedelta(hours=2))
    older = EntryFactory(channel=channels[1], ordered_at=now - timedelta(hours=50))
    cycle_run(now=now)
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert page.index(older.reference) < page.index(newer.reference)


def test_queue_shows_signal_tags(client, channels, lead):
    now = timezone.now()
    late = EntryFactory(
        channel=channels[0],
        stage=Stage.AWAITING_HANDOVER,
        handover_due_at=now - timedelta(hours=5),
    )
    cycle_run(now=now)
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    late.refresh_from_db()
    assert late.backlog_type == "processing"
    assert "handover late" in page
    assert "Hand-over to the carrier is past the seller&#x27;s limit" in page


def test_reference_links_to_entry_page(client, entry, lead):
    cycle_run(now=timezone.now())
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'href="/entries/{entry.pk}/"' in page


def test_filter_by_channel_lists_only_that_channel(client, channels, lead):
    web, store = channels
    web_entry = EntryFactory(channel=web)
    store_entry = EntryFactory(channel=store)
    client.force_login(lead)

    page = client.get(reverse("dashboard"), {"channel": "store"}).content.decode()

    assert store_entry.reference in page
    assert web_entry.reference not in page
    assert "Open entries (filtered)" in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unowned": "1"}, "unowned"),
        ({"overdue": "1"}, "overdue"),
        ({"stage": Stage.IN_TRANSIT}, "in_transit"),
        ({"type": "processing"}, "processing"),
    ],
)
def test_filters_narrow_open_entries(client, channels, lead, params, expected):
    now = timezone.now()
    web = channels[0]
    entries = {
        "unowned": EntryFactory(channel=web, owner=None, due_at=now + timedelta(days=1)),
        "overdue": EntryFactory(channel=web, owner=lead, due_at=now - timedelta(hours=1)),
        "in_transit": EntryFactory(
            channel=web, owner=lead, due_at=now + timedelta(days=1), stage=Stage.IN_TRANSIT
        ),
        "processing": EntryFactory(
            channel=web, owner=lead, due_at=now + timedelta(days=1), backlog_type="processing"
        ),
    }
    client.force_login(lead)

    response = client.get(reverse("dashboard"), params)

    shown = {row.entry.pk for row in response.context["rows"]}
    assert entries[expected].pk in shown
    assert len(shown) == 1, shown


def test_filter_by_owner_uses_user_name(client, channels, lead, manager):
    mine = EntryFactory(channel=channels[0], owner=lead)
    EntryFactory(channel=channels[0], owner=manager)
    client.force_login(lead)

    response = client.get(reverse("dashboard"), {"owner": lead.username})

    assert [row.entry.pk for row in response.context["rows"]] == [mine.pk]


def test_unchecked_flag_does_not_filter(client, channels, lead):
    owned = EntryFactory(channel=channels[0], owner=lead)
    client.force_login(lead)

    response = client.get(reverse("dashboard"), {"unowned": "0", "scope": "open"})

    assert [row.entry.pk for row in response.context["rows"]] == [owned.pk]


def test_closed_entries_never_listed(client, channels, lead):
    EntryFactory(channel=channels[0], status=Status.CLOSED)
    client.force_login(lead)

    response = client.get(reverse("dashboard"), {"scope": "open"})

    assert response.context["rows"] == []
    assert "No open entry matches these filters." in response.content.decode()


def test_unknown_channel_shows_filter_error(client, entry, lead):
    client.force_login(lead)

    page = client.get(reverse("dashboard"), {"channel": "nowhere"}).content.decode()

    assert 'role="alert"' in page
    assert "Select a valid choice" in page


def test_invalid_filters_are_dropped_with_note(client, channels, lead):
    web_entry = EntryFactory(channel=channels[0])
    store_entry = EntryFactory(channel=channels[1])
    client.force_login(lead)

    response = client.get(reverse("dashboard"), {"channel": "nope", "type": "zzz", "unowned": "maybe"})

    page = response.content.decode()
    assert "These filter values are invalid, so they were not applied:" in page
    assert "Channel “<span" in page
    assert 'title="zzz">zzz</span>”: Select a valid choice.' in page
    assert 'title="maybe">maybe</span>”: Invalid flag: expected 1, true, on or yes' in page
    assert '<h2 id="queue-heading">Open entries</h2>' in page
    assert "(filtered)" not in page
    assert {row.entry.pk for row in response.context["rows"]} == {web_entry.pk, store_entry.pk}
    assert f'href="{reverse("export-csv")}"' in page


def test_valid_filter_applies_beside_invalid_one(client, channels, lead):
    EntryFactory(channel=channels[0])
    store_entry = EntryFactory(channel=channels[1])
    client.force_login(lead)

    response = client.get(reverse("dashboard"), {"channel": "store", "type": "zzz"})

    page = response.content.decode()
    assert "This filter value is invalid, so it was not applied:" in page
    assert "Open entries (filtered)" in page
    assert [row.entry.pk for row in response.context["rows"]] == [store_entry.pk]
    assert f'href="{reverse("export-csv")}?channel=store"' in page


def test_unchecked_flag_leaves_checkbox_clear(client, channels, lead):
    client.force_login(lead)

    page = client.get(reverse("dashboard"), {"unowned": "0", "scope": "open"}).content.decode()

    assert re.search(r'<input type="checkbox" id="filter-unowned" name="unowned" value="1">', page)


def test_keyset_pages_walk_all_entries_once(client, channels, lead):
    now = timezone.now()
    created = [
        EntryFactory(channel=channels[0], ordered_at=now - timedelta(hours=100 - i)) for i in range(7)
    ]
    client.force_login(lead)

    seen = []
    params = {"scope": "open", "page_size": "3"}
    for _ in range(5):
        response = client.get(reverse("dashboard"), params)
        seen.extend(row.entry.pk for row in response.context["rows"])
        if not response.context["next_query"]:
            break
        params = dict(pair.split("=") for pair in response.context["next_query"].split("&"))

    assert seen == [entry.pk for entry in created]


def test_next_page_link_has_real_url(client, channels, lead):
    EntryFactory.create_batch(3, channel=channels[0])
    client.force_login(lead)

    page = client.get(reverse("dashboard"), {"scope": "open", "page_size": "2"}).content.decode()

    link = re.search(r'<a href="([^"]+)" hx-get="([^"]+)"[^>]*rel="next"', page)
    assert link is not None
    assert link.group(1) == link.group(2)
    assert "after=" in link.group(1)


def test_export_link_carries_filters(client, channels, lead):
    EntryFactory(channel=channels[1])
    client.force_login(lead)

    page = client.get(reverse("dashboard"), {"channel": "store", "unowned": "1"}).content.decode()

    assert f'href="{reverse("export-csv")}?channel=store&amp;unowned=1"' in page


# htmx partials


def test_summary_partial_renders_only_the_panel(client, entry, lead):
    client.force_login(lead)

    response = client.get(reverse("dashboard"), HTTP_HX_TARGET="summary-panel", **HTMX_HEADERS)

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="summary-panel"')
    assert "<html" not in body
    assert "queue-panel" not in body
    assert "HX-Request" in response["Vary"]


def test_queue_partial_keeps_filters_in_its_poll_url(client, channels, lead):
    EntryFactory(channel=channels[1])
    client.force_login(lead)

    response = client.get(
        reverse("dashboard"), {"channel": "store"}, HTTP_HX_TARGET="queue-panel", **HTMX_HEADERS
    )

    body = response.content.decode()
    assert body.lstrip().startswith('<section id="queue-panel"')
    assert 'hx-get="/?channel=store"' in body
    assert "every 20s [!queueBusy()]" in body
    assert "<html" not in body


def test_dashboard_loads_htmx_and_app_script_from_static(client, lead):
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert re.search(r'<script src="/static/django_htmx/htmx-2(\.min)?\.js"', page)
    assert '<script src="/static/js/app.js"' in page
    assert "https://" not in re.sub(r"<a [^>]*>", "", page).split("<body")[0]


# Decide: htmx responses


def test_decide_saves_and_returns_updated_row(client, entry, lead):
    client.force_login(lead)
    eta = future_local(48)

    response = row_post(
        client, entry, owner=lead.pk, resolution_method=resolution_method("expedite").pk, due_at=eta
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tbody id="entry-{entry.pk}"')
    assert "Saved." in body
    assert f'value="{eta}"' in body
    assert 'name="version" value="2"' in body
    entry.refresh_from_db()
    assert entry.owner == lead
    assert entry.resolution_method.code == "expedite"
    assert timezone.localtime(entry.due_at).strftime("%Y-%m-%dT%H:%M") == eta


def test_decide_reads_eta_in_site_time(client, entry, lead, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(lead)

    row_post(client, entry, due_at="2031-07-01T12:00")

    entry.refresh_from_db()
    assert entry.due_at.isoformat() == "2031-07-01T10:00:00+00:00"


def test_decide_stale_version_returns_409_with_current_values(client, entry, lead, manager):
    client.force_login(manager)
    row_post(client, entry, owner=manager.pk)
    client.force_login(lead)

    response = row_post(client, entry, owner=lead.pk)

    body = response.content.decode()
    assert response.status_code == 409
    assert f"{entry.reference} was changed by Carla at" in body
    assert "The row now shows their values." in body
    assert re.search(rf'<option value="{manager.pk}" selected>', body)
    assert 'name="version" value="2"' in body
    entry.refresh_from_db()
    assert entry.owner == manager


def test_decide_invalid_eta_returns_422_with_field_error(client, entry, lead):
    client.force_login(lead)

    response = row_post(client, entry, owner=lead.pk, due_at="not a date")

    body = response.content.decode()
    assert response.status_code == 422
    assert 'aria-invalid="true"' in body
    assert "Enter a valid date/time." in body
    assert 'value="not a date"' in body
    entry.refresh_from_db()
    assert entry.owner is None
    assert entry.version == 1


def test_decide_past_eta_is_rejected(client, entry, lead):
    client.force_login(lead)

    response = row_post(client, entry, due_at=future_local(-3))

    assert response.status_code == 422
    assert "is in the past" in response.content.decode()


def test_decide_keeps_unchanged_past_eta(client, channels, lead):
    # A passed ETA that the lead leaves alone must not block saving the owner.
    past = timezone.now() - timedelta(hours=3, seconds=17)
    overdue = EntryFactory(channel=channels[0], due_at=past)
    client.force_login(lead)

    response = row_post(client, overdue, owner=lead.pk, due_at=timezone.localtime(past).strftime("%Y-%m-%dT%H:%M"))

    assert response.status_code == 200
    overdue.refresh_from_db()
    assert overdue.owner == lead
    assert overdue.due_at == past


@pytest.mark.parametrize(
    ("local_value", "message"),
    [
        ("2030-03-31T02:30", NONEXISTENT_TIME_MESSAGE % {"value": "2030-03-31 02:30", "zone": "Europe/Berlin"}),
        ("2030-10-27T02:30", AMBIGUOUS_TIME_MESSAGE % {"value": "2030-10-27 02:30", "zone": "Europe/Berlin"}),
    ],
)
def test_decide_rejects_dst_gap_and_repeated_hour(client, entry, lead, settings, local_value, message):
    settings.TIME_ZONE = "Europe/Berlin"
    client.force_login(lead)

    response = row_post(client, entry, due_at=local_value)

    assert response.status_code == 422
    assert message in response.content.decode()


def test_decide_closed_entry_returns_409(client, channels, lead):
    closed = EntryFactory(channel=channels[0], status=Status.CLOSED)
    client.force_login(lead)

    response = row_post(client, closed, owner=lead.pk)

    assert response.status_code == 409
    assert f"{closed.reference} is closed." in response.content.decode()


def test_decide_unknown_entry_returns_404(client, lead):
    client.force_login(lead)

    response = client.post(reverse("entry-decide", args=[999999]), {"version": 1}, **HTMX_HEADERS)

    assert response.status_code == 404


def test_decide_records_timeline_event(client, entry, lead):
    client.force_login(lead)

    row_post(client, entry, owner=lead.pk)

    event = TimelineEvent.objects.get(entry=entry, kind=TimelineEvent.Kind.ASSIGNED)
    assert event.actor == lead
    assert event.changes["owner"] == {"old": None, "new": str(lead)}


def test_decide_marks_cycle_item_decided(client, entry, lead):
    cycle_run(now=timezone.now())
    client.force_login(lead)

    row_post(client, entry, owner=lead.pk)

    item = CycleItem.objects.get(entry=entry)
    assert item.decided_at is not None
    assert item.decision["owner"]["old"] is None
    assert "owner" in item.decision


def test_decide_leaves_fields_missing_from_the_post(client, channels, lead):
    method = resolution_method("expedite")
    kept = EntryFactory(channel=channels[0], resolution_method=method)
    client.force_login(lead)

    client.post(decide_url(kept), {"version": 1, "owner": lead.pk}, **HTMX_HEADERS)

    kept.refresh_from_db()
    assert kept.owner == lead
    assert kept.resolution_method == method


# Decide without JavaScript


def test_decide_without_htmx_redirects_back_with_message(client, entry, lead):
    client.force_login(lead)
    back = reverse("dashboard") + "?channel=web"

    response = client.post(decide_url(entry), {"version": 1, "owner": lead.pk, "next": back})

    assert response.status_code == 303
    assert response["Location"] == back
    page = client.get(back).content.decode()
    assert f"{entry.reference}: Saved." in page


def test_decide_without_htmx_reports_stale_edit(client, entry, lead, manager):
    client.force_login(manager)
    row_post(client, entry, owner=manager.pk)
    client.force_login(lead)

    response = client.post(
        decide_url(entry), {"version": 1, "owner": lead.pk, "next": entry_page(entry.pk)}, follow=True
    )

    page = response.content.decode()
    assert f"{entry.reference} was changed by Carla at" in page
    assert "The page now shows their values." in page
    assert f"{entry.reference}: {entry.reference}" not in page


def test_decide_ignores_foreign_next_url(client, entry, lead):
    client.force_login(lead)

    response = client.post(
        decide_url(entry), {"version": 1, "owner": lead.pk, "next": "https://evil.example/"}
    )

    assert response["Location"] == reverse("dashboard")


# CSRF


def test_every_htmx_write_carries_the_csrf_token(lead, entry):
    cycle_run(now=timezone.now())
    client = Client(enforce_csrf_checks=True)
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    body_tag = re.search(r"<body[^>]*>", page).group(0)
    headers = json.loads(re.search(r"hx-headers='([^']+)'", body_tag).group(1))
    token = headers["X-CSRFToken"]
    assert token
    writes = re.findall(r"<(\w+)[^>]*hx-(?:post|put|patch|delete)=", page)
    assert writes, "the dashboard should have inline edit forms"
    forms = re.findall(r"<form [^>]*hx-post=[^>]*>(.*?)</form>", page, flags=re.S)
    assert all('name="csrfmiddlewaretoken"' in form for form in forms)

    without_token = client.post(decide_url(entry), {"version": 1, "owner": lead.pk}, **HTMX_HEADERS)
    with_token = client.post(
        decide_url(entry),
        {"version": 1, "owner": lead.pk},
        HTTP_X_CSRFTOKEN=token,
        **HTMX_HEADERS,
    )
    assert without_token.status_code == 403
    assert with_token.status_code == 200


# Entry page


def test_entry_page_shows_lines_reasons_timeline_and_cycles(client, channels, lead):
    now = timezone.now()
    late = EntryFactory(
        channel=channels[0],
        customer_name="Inês Araújo",
        stage=Stage.AWAITING_HANDOVER,
        handover_due_at=now - timedelta(hours=5),
    )
    EntryLineFactory(entry=late, sku="SKU-4471", quantity=2, category="garden")
    cycle_run(now=now)
    client.force_login(lead)
    row_post(client, late, owner=lead.pk)

    page = client.get(entry_page(late.pk)).content.decode()

    assert "Inês Araújo" in page
    assert "SKU-4471" in page
    assert "Hand-over to the carrier is past the seller&#x27;s limit" in page
    assert "hours late: 5.0" in page
    assert "Triage decision" in page
    assert "Queued for triage" in page
    assert "Anna" in page
    assert timezone.localtime(now).strftime("%Y-%m-%d %H:%M") in page
    assert "Not queued in any triage cycle yet." not in page


def test_entry_page_timeline_shows_owner_full_names(client, entry, lead):
    owner = UserFactory(username="support-eva", first_name="Eva", last_name="Lindqvist", roles=["support"])
    nameless = UserFactory(username="support-nameless", roles=["support"])
    client.force_login(lead)
    row_post(client, entry, owner=owner.pk)
    entry.refresh_from_db()
    row_post(client, entry, owner=nameless.pk)

    page = client.get(entry_page(entry.pk)).content.decode()

    assert '<span class="old">—</span> → <span class="new">Eva Lindqvist</span>' in page
    assert (
        '<span class="old">Eva Lindqvist</span> → <span class="new">support-nameless</span>' in page
    )
    stored = TimelineEvent.objects.filter(entry=entry, kind=TimelineEvent.Kind.ASSIGNED)
    assert [event.changes["owner"]["new"] for event in stored] == ["support-eva", "support-nameless"]


def test_entry_page_cycle_reasons_read_as_phrase(client, entry, lead):
    cycle_run(now=timezone.now())
    client.force_login(lead)

    page = client.get(entry_page(entry.pk)).content.decode()

    assert "<td>No owner, no resolution method, no ETA</td>" in page
    assert "Queued for triage: no owner, no resolution method, no ETA" in page


def test_entry_page_shows_times_in_site_zone(client, channels, lead, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    from datetime import datetime, UTC

    dated = EntryFactory(channel=channels[0], promised_at=datetime(2031, 1, 15, 9, 0, tzinfo=UTC))
    client.force_login(lead)

    page = client.get(entry_page(dated.pk)).content.decode()

    assert "2031-01-15 10:00" in page


def test_entry_page_has_edit_form_for_leads_only(client, entry, lead, support):
    client.force_login(lead)
    lead_page = client.get(entry_page(entry.pk)).content.decode()
    client.force_login(support)
    support_page = client.get(entry_page(entry.pk)).content.decode()

    assert f'action="{decide_url(entry)}"' in lead_page
    assert f'action="{decide_url(entry)}"' not in support_page


def test_entry_page_missing_entry_is_404(client, lead):
    client.force_login(lead)

    assert client.get(entry_page(999999)).status_code == 404


# Layout


def test_base_layout_has_navigation_and_logout_form(client, lead):
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("import-upload")}"' in page
    assert f'href="{reverse("export-csv")}"' in page
    assert 'href="/api/docs/"' in page
    assert re.search(rf'<form method="post" action="{reverse("logout")}"', page)
    assert "lead" in page


def test_base_layout_hides_import_and_admin_from_support(client, support):
    client.force_login(support)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'href="{reverse("import-upload")}"' not in page
    assert 'href="/admin/"' not in page


def test_login_page_renders_form(client):
    page = client.get(reverse("login")).content.decode()

    assert 'name="username"' in page
    assert 'name="password"' in page
    assert '<label for="id_password">' in page


def test_decide_keeps_owner_who_lost_role(client, channels, lead):
    former = UserFactory(username="former-staff", first_name="Frida")
    entry = EntryFactory(channel=channels[0], owner=former)
    client.force_login(lead)
    page = client.get(reverse("dashboard"), {"scope": "open"}).content.decode()

    response = row_post(client, entry, owner=former.pk, due_at=future_local(24))

    assert f'<option value="{former.pk}" selected>Frida (no role)</option>' in page
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.owner == former
    assert entry.due_at is not None


# Cycles page


def test_cycle_list_shows_recent_cycles(client, entry, lead):
    now = timezone.now()
    cycle_run(now=now - timedelta(minutes=30))
    cycle_run(now=now)
    client.force_login(lead)

    response = client.get(reverse("cycle-list"))

    page = response.content.decode()
    assert response.status_code == 200
    assert len(response.context["cycles"]) == 2
    assert page.count("Nobody on duty") == 2


def test_cycle_list_checks_roles(client, no_role_user):
    assert client.get(reverse("cycle-list")).status_code == 302
    client.force_login(no_role_user)
    assert client.get(reverse("cycle-list")).status_code == 403
