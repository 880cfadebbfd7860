"""The entries API: reading, triage decisions, stale versions and roles."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from backlog.models import BacklogEntry, TimelineEvent
from tests.factories import EntryFactory, EntryLineFactory, UserFactory
from triage.models import EntryPause

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def test_list_returns_entries_oldest_first(lead):
    now = timezone.now()
    newer = EntryFactory(detected_at=now - timedelta(hours=1))
    older = EntryFactory(detected_at=now - timedelta(hours=5))

    response = client_for(lead).get("/api/entries/")

    assert response.status_code == 200
    references = [row["reference"] for row in response.json()["results"]]
    assert references == [older.reference, newer.reference]


@pytest.mark.parametrize("page_size", [10, 50])
def test_list_query_count_is_constant(lead, page_size, django_assert_num_queries):
    owner = UserFactory(username="owner-eve", roles=["support"])
    for entry in EntryFactory.create_batch(60, owner=owner):
        EntryLineFactory.create_batch(3, entry=entry)
    client = client_for(lead)

    # Session user, groups for the role check, the page, and its lines.
    with django_assert_num_queries(3):
        response = client.get(f"/api/entries/?page_size={page_size}")

    assert response.status_code == 200
    assert len(response.json()["results"]) == page_size


def test_patch_records_decision_and_timeline(lead, support):
    entry = EntryFactory()
    due = timezone.now() + timedelta(days=2)

    response = client_for(lead).patch(
        f"/api/entries/{entry.pk}/",
        {"version": 1, "owner": support.username, "resolution_method": "expedite", "due_at": due.isoformat()},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["owner"] == support.username
    assert body["resolution_method"] == "expedite"
    assert body["version"] == 2
    event = TimelineEvent.objects.get(entry=entry, kind=TimelineEvent.Kind.ASSIGNED)
    assert event.actor == lead
    assert event.changes["owner"]["new"] == support.username


def test_patch_with_stale_version_is_rejected(lead, manager, support):
    entry = EntryFactory()
    first = client_for(lead).patch(
        f"/api/entries/{entry.pk}/", {"version": 1, "owner": support.username}, format="json"
    )
    assert first.status_code == 200

    second = client_for(manager).patch(
        f"/api/entries/{entry.pk}/",
        {"version": 1, "due_at": (timezone.now() + timedelta(days=3)).isoformat()},
        format="json",
    )

    assert second.status_code == 409
    assert "changed by lead-anna" in second.json()["detail"]
    entry.refresh_from_db()
    assert entry.owner == support
    assert entry.due_at is None


def test_patch_without_changes_is_invalid(lead):
    entry = EntryFactory()

    response = client_for(lead).patch(f"/api/entries/{entry.pk}/", {"version": 1}, format="json")

    assert response.status_code == 400
    assert "Nothing to change" in str(response.json())


def test_patch_with_unknown_owner_names_field(lead):
    entry = EntryFactory()

    response = client_for(lead).patch(
        f"/api/entries/{entry.pk}/", {"version": 1, "owner": "nobody-here"}, format="json"
    )

    assert response.status_code == 400
    assert "owner" in response.json()
    assert BacklogEntry.objects.get(pk=entry.pk).version == 1


def test_put_is_not_allowed(lead):
    entry = EntryFactory()

    response = client_for(lead).put(f"/api/entries/{entry.pk}/", {"version": 1}, format="json")

    assert response.status_code == 405


@pytest.mark.parametrize(
    ("role", "read_status", "write_status"),
    [
        (None, 401, 401),
        ("visitor", 403, 403),
        ("support", 200, 403),
        ("lead", 200, 200),
        ("manager", 200, 200),
        ("admin", 200, 200),
    ],
)
def test_roles_on_entries_api(role, read_status, write_status):
    entry = EntryFactory()
    user = None
    if role == "visitor":
        user = UserFactory(username="visitor")
    elif role is not None:
        user = UserFactory(username=f"user-{role}", roles=[role])
    client = client_for(user)

    read = client.get(f"/api/entries/{entry.pk}/")
    write = client.patch(f"/api/entries/{entry.pk}/", {"version": 1, "note": "checked"}, format="json")

    assert read.status_code == read_status
    assert write.status_code == write_status


def test_list_holds_open_entries_only(lead):
    open_entry = EntryFactory()
    closed_entry = EntryFactory(status="closed")
    client = client_for(lead)

    listed = client.get("/api/entries/").json()["results"]
    closed = client.get(f"/api/entries/{closed_entry.pk}/")

    assert [row["id"] for row in listed] == [open_entry.pk]
    assert closed.status_code == 200


def test_patch_rejects_eta_in_past(lead):
    entry = EntryFactory()

    response = client_for(lead).patch(
        f"/api/entries/{entry.pk}/", {"version": 1, "due_at": "1900-01-01T00:00:00Z"}, format="json"
    )

    assert response.status_code == 400
    assert "in the past" in response.json()["due_at"][0]
    entry.refresh_from_db()
    assert entry.due_at is None


def test_patch_keeps_passed_eta_unchanged(lead, support):
    passed = timezone.now() - timedelta(days=1)
    entry = EntryFactory(due_at=passed)

    response = client_for(lead).patch(
        f"/api/entries/{entry.pk}/",
        {"version": 1, "owner": support.username, "due_at": passed.isoformat()},
        format="json",
    )

    assert response.status_code == 200


def test_patch_rejects_owner_without_role(lead):
    entry = EntryFactory()
    UserFactory(username="no-role-user")

    response = client_for(lead).patch(
        f"/api/entries/{entry.pk}/", {"version": 1, "owner": "no-role-user"}, format="json"
    )

    assert response.status_code == 400
    assert "owner" in response.json()


def test_anonymous_request_gets_basic_challenge():
    response = APIClient().get("/api/entries/")

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_read_without_role_names_read_rule():
    client = client_for(UserFactory(username="visitor"))

    response = client.get("/api/entries/")

    assert response.status_code == 403
    assert "You need a Triage Desk role" in response.json()["detail"]


def test_api_docs_use_local_assets(client, lead):
    client.force_login(lead)

    page = client.get("/api/docs/").content.decode()

    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page


def test_status_change_through_api_pauses_clock(lead):
    entry = EntryFactory()

    response = client_for(lead).post(
        f"/api/entries/{entry.pk}/status/", {"version": 1, "status": "on_hold", "reason": "waiting on carrier"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "on_hold"
    assert EntryPause.objects.filter(entry=entry, ended_at__isnull=True).count() == 1


def test_status_change_stale_version_conflicts(lead):
    entry = EntryFactory(version=2)

    response = client_for(lead).post(
        f"/api/entries/{entry.pk}/status/", {"version": 1, "status": "closed", "reason": "done"}, format="json"
    )

    assert response.status_code == 409


def test_status_change_needs_triage_role(support):
    entry = EntryFactory()

    response = client_for(support).post(
        f"/api/entries/{entry.pk}/status/", {"version": 1, "status": "closed", "reason": "done"}, format="json"
    )

    assert response.status_code == 403
