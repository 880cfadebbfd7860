"""Bulk customer updates from the cycle queue, and the counts of overdue updates on the dashboard."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from backlog.models import Status, TimelineEvent
from comms.models import CustomerUpdate, MessageStage, OutboxMessage
from comms.selectors import overdue_entries, overdue_update_counts
from comms.services.templates import default_templates_ensure
from comms.services.updates import update_preview, update_previews, update_send
from tests.factories import EntryFactory, UserFactory
from triage.services.cycles import cycle_run

pytestmark = pytest.mark.django_db

BULK_URL = "/updates/bulk/"


@pytest.fixture(autouse=True)
def templates(settings):
    settings.CUSTOMER_SUPPORT_CONTACT = "support@shop.example"
    default_templates_ensure(now=timezone.now())


def queue_entries(count: int, **fields) -> list:
    """Create `count` entries without an owner, so the triage cycle queues them, and run the cycle."""
    now = timezone.now()
    fields.setdefault("due_at", now + timedelta(days=2))
    entries = [EntryFactory(ordered_at=now - timedelta(hours=30 + n), **fields) for n in range(count)]
    cycle_run(now=now)
    return entries


def test_bulk_url_is_mounted():
    assert reverse("bulk-updates") == BULK_URL


def test_bulk_page_lists_queue_with_previews(client, support):
    entries = queue_entries(2)
    client.force_login(support)

    response = client.get(BULK_URL, {"stage": "intake"})

    assert response.status_code == 200
    page = response.content.decode()
    for entry in entries:
        preview = update_preview(entry=entry, stage=MessageStage.INTAKE, now=timezone.now())
        assert f'name="entry" value="{entry.pk}"' in page
        assert entry.reference in page
        assert escape(preview.rendered.subject) in page


@pytest.mark.parametrize("stage", MessageStage.values)
def test_bulk_previews_match_entry_preview(stage):
    entries = queue_entries(3)
    entries.append(EntryFactory(customer_email=""))
    now = timezone.now()
    update_send(entry_id=entries[0].pk, stage=MessageStage.INTAKE, actor=None, now=now - timedelta(hours=5))

    previews = update_previews(entries=entries, stage=stage, now=now)

    for entry in entries:
        single = update_preview(entry=entry, stage=stage, now=now)
        assert previews[entry.pk].rendered == single.rendered
        assert previews[entry.pk].held_reason == single.held_reason
        assert previews[entry.pk].earlier == single.earlier


def test_bulk_page_shows_held_preview(client, support):
    [entry] = queue_entries(1, due_at=None)
    client.force_login(support)

    response = client.get(BULK_URL, {"stage": "intake"})

    assert response.status_code == 200
    assert "held: missing: eta" in response.content.decode()
    assert f'value="{entry.pk}"' in response.content.decode()


def test_bulk_page_rejects_unknown_stage(client, support):
    client.force_login(support)

    response = client.get(BULK_URL, {"stage": "later"})

    assert response.status_code == 400


def test_bulk_send_queues_selected_and_reports_held(client, lead):
    first, second, third = queue_entries(3)
    held = EntryFactory(due_at=None)
    client.force_login(lead)

    response = client.post(BULK_URL, {"stage": "intake", "entry": [first.pk, second.pk, held.pk]})

    assert response.status_code == 200
    assert OutboxMessage.objects.filter(entry__in=[first, second]).count() == 2
    assert not OutboxMessage.objects.filter(entry=third).exists()
    page = response.content.decode()
    assert "2 queued, 1 held, 0 rejected" in page
    assert "missing: eta" in page
    assert CustomerUpdate.objects.get(entry=held).status == CustomerUpdate.Status.HELD
    assert CustomerUpdate.objects.get(entry=first).created_by == lead


def test_bulk_resend_is_rejected_per_entry(client, lead):
    sent, fresh = queue_entries(2)
    update_send(entry_id=sent.pk, stage=MessageStage.INTAKE, actor=None, now=timezone.now())
    client.force_login(lead)

    response = client.post(BULK_URL, {"stage": "intake", "entry": [sent.pk, fresh.pk]})

    page = response.content.decode()
    assert "1 queued, 0 held, 1 rejected" in page
    assert "give a reason to send it again" in page
    assert CustomerUpdate.objects.filter(entry=sent).count() == 1
    assert OutboxMessage.objects.filter(entry=fresh).count() == 1


def test_bulk_send_reports_unknown_entry(client, lead):
    client.force_login(lead)

    response = client.post(BULK_URL, {"stage": "intake", "entry": ["999999"]})

    assert "0 queued, 0 held, 1 rejected" in response.content.decode()
    assert "No backlog entry has the id 999999." in response.content.decode()


@pytest.mark.parametrize("entry_value", ["abc", "-1", "1.5"])
def test_bulk_send_rejects_invalid_ids(client, lead, entry_value):
    client.force_login(lead)

    response = client.post(BULK_URL, {"stage": "intake", "entry": [entry_value]})

    assert response.status_code == 400
    assert CustomerUpdate.objects.count() == 0


def test_bulk_send_without_selection_redirects(client, lead):
    client.force_login(lead)

    response = client.post(BULK_URL, {"stage": "intake"})

    assert response.status_code == 302
    assert CustomerUpdate.objects.count() == 0


def test_bulk_anonymous_goes_to_login(client):
    response = client.get(BULK_URL)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_bulk_without_role_is_forbidden(client, no_role_user):
    client.force_login(no_role_user)

    assert client.get(BULK_URL).status_code == 403
    assert client.post(BULK_URL, {"stage": "intake", "entry": ["1"]}).status_code == 403


@pytest.mark.parametrize("count", [5, 20])
def test_bulk_page_queries_fixed(client, support, count, django_assert_num_queries):
    queue_entries(count)
    client.force_login(support)

    # Session, user, groups, latest cycle, queue, templates, earlier updates, timeline events.
    with django_assert_num_queries(8):
        response = client.get(BULK_URL, {"stage": "intake"})

    assert response.status_code == 200
    assert response.content.decode().count('name="entry"') == count


def test_dashboard_links_to_bulk_page(client, lead):
    queue_entries(1)
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert f'href="{BULK_URL}?stage=intake"' in page
    assert "Send updates" in page


# Overdue counts


def test_overdue_counts_intake_and_midpoint():
    now = timezone.now()
    triaged = EntryFactory(due_at=now + timedelta(days=2))
    triaged.events.create(kind=TimelineEvent.Kind.TRIAGED, at=now - timedelta(hours=1))
    EntryFactory()  # neither triaged nor owned with an ETA: no update is due
    closed = EntryFactory(status=Status.RESOLVED, due_at=now + timedelta(days=1))
    closed.events.create(kind=TimelineEvent.Kind.TRIAGED, at=now - timedelta(hours=1))

    # Intake sent 3 days ago, ETA 1 day ahead: past halfway, so the midpoint is overdue.
    late = EntryFactory(due_at=now + timedelta(days=1))
    update_send(entry_id=late.pk, stage=MessageStage.INTAKE, actor=None, now=now - timedelta(days=3))
    # Intake sent 1 hour ago, ETA 2 days ahead: the midpoint is not due yet.
    early = EntryFactory(due_at=now + timedelta(days=2))
    update_send(entry_id=early.pk, stage=MessageStage.INTAKE, actor=None, now=now - timedelta(hours=1))
    # Midpoint sent already.
    done = EntryFactory(due_at=now + timedelta(days=1))
    update_send(entry_id=done.pk, stage=MessageStage.INTAKE, actor=None, now=now - timedelta(days=3))
    update_send(entry_id=done.pk, stage=MessageStage.MIDPOINT, actor=None, now=now - timedelta(hours=1))
    # ETA passed: the cadence skips the midpoint, so it is not overdue.
    passed = EntryFactory(due_at=now - timedelta(hours=1))
    update_send(entry_id=passed.pk, stage=MessageStage.INTAKE, actor=None, now=now - timedelta(days=3))

    assert overdue_update_counts(now=now) == {"intake": 1, "midpoint": 1}


def test_overdue_counts_owned_with_eta_need_intake():
    now = timezone.now()
    EntryFactory(due_at=now + timedelta(days=1), owner=UserFactory(roles=["lead"]))

    assert overdue_update_counts(now=now) == {"intake": 1, "midpoint": 0}


def test_overdue_counts_run_one_query(django_assert_num_queries):
    with django_assert_num_queries(1):
        overdue_update_counts(now=timezone.now())


def test_dashboard_shows_overdue_updates(client, lead):
    entry = EntryFactory(due_at=timezone.now() + timedelta(days=1))
    entry.events.create(kind=TimelineEvent.Kind.TRIAGED, at=timezone.now())
    client.force_login(lead)

    page = client.get(reverse("dashboard")).content.decode()

    assert "Overdue updates" in page
    assert 'data-overdue-intake="1"' in page


def test_bulk_page_lists_overdue_entries(client, lead):
    now = timezone.now()
    overdue = EntryFactory(due_at=now + timedelta(days=2))
    overdue.events.create(kind=TimelineEvent.Kind.TRIAGED, at=now - timedelta(hours=1))
    EntryFactory()  # not triaged: its intake is not due
    client.force_login(lead)

    page = client.get(reverse("bulk-updates") + "?stage=intake&overdue=1").content.decode()

    assert "that are overdue" in page
    assert overdue.reference in page


def test_overdue_entries_match_counts():
    now = timezone.now()
    entry = EntryFactory(due_at=now + timedelta(days=1))
    entry.events.create(kind=TimelineEvent.Kind.TRIAGED, at=now - timedelta(hours=1))

    assert [found.pk for found in overdue_entries(stage="intake", now=now)] == [entry.pk]
    assert overdue_entries(stage="midpoint", now=now) == []
