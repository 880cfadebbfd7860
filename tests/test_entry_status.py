"""Moving an entry between open, on hold, resolved and closed from its page."""

import pytest
from django.utils import timezone

from backlog.models import Status, TimelineEvent
from backlog.services.entries import StaleEntryError, entry_set_status
from tests.factories import EntryFactory

pytestmark = pytest.mark.django_db


def post_status(client, entry, *, status: str, version: int, reason: str = "carrier confirmed delivery"):
    return client.post(
        f"/entries/{entry.pk}/status/", {"status": status, "version": version, "reason": reason}
    )


def test_status_change_closes_and_logs(client, lead):
    entry = EntryFactory()
    client.force_login(lead)

    response = post_status(client, entry, status=Status.CLOSED, version=1)

    assert response.status_code == 303
    entry.refresh_from_db()
    assert entry.status == Status.CLOSED
    assert entry.closed_at is not None
    assert entry.version == 2
    event = entry.events.get(kind=TimelineEvent.Kind.STATUS)
    assert event.actor == lead
    assert event.reason == "carrier confirmed delivery"
    assert event.changes["status"] == {"old": "open", "new": "closed"}


def test_status_reopen_clears_closed_at(lead):
    entry = EntryFactory(status=Status.RESOLVED, closed_at=timezone.now())

    entry = entry_set_status(
        entry_id=entry.pk, expected_version=1, status=Status.OPEN, actor=lead, now=timezone.now(), reason="customer says missing"
    )

    assert entry.status == Status.OPEN
    assert entry.closed_at is None


def test_status_stale_version_is_rejected(client, lead, manager):
    entry = EntryFactory()
    entry_set_status(entry_id=entry.pk, expected_version=1, status=Status.ON_HOLD, actor=manager, now=timezone.now())
    client.force_login(lead)

    response = post_status(client, entry, status=Status.CLOSED, version=1)

    entry.refresh_from_db()
    assert entry.status == Status.ON_HOLD
    page = client.get(response["Location"]).content.decode()
    assert f"{entry.reference} was changed by Carla at" in page
    assert "The page now shows their values." in page


def test_status_service_rejects_stale_version(lead):
    entry = EntryFactory(version=3)

    with pytest.raises(StaleEntryError):
        entry_set_status(entry_id=entry.pk, expected_version=2, status=Status.CLOSED, actor=lead, now=timezone.now())


def test_status_change_needs_reason(client, lead):
    entry = EntryFactory()
    client.force_login(lead)

    response = post_status(client, entry, status=Status.CLOSED, version=1, reason="")

    entry.refresh_from_db()
    assert entry.status == Status.OPEN
    assert "Why: This field is required." in client.get(response["Location"]).content.decode()


def test_status_change_forbidden_for_support(client, support):
    entry = EntryFactory()
    client.force_login(support)

    response = post_status(client, entry, status=Status.CLOSED, version=1)

    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.status == Status.OPEN


def test_status_form_shown_to_leads_only(client, lead, support):
    entry = EntryFactory()

    client.force_login(lead)
    lead_page = client.get(f"/entries/{entry.pk}/").content.decode()
    client.force_login(support)
    support_page = client.get(f"/entries/{entry.pk}/").content.decode()

    assert "Change status" in lead_page
    assert "Change status" not in support_page


def test_status_change_unknown_entry_is_404(client, lead):
    client.force_login(lead)

    response = client.post("/entries/999999/status/", {"status": "closed", "version": 1, "reason": "x"})

    assert response.status_code == 404
