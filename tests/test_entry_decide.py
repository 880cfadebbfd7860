"""Stale edits: two people on one entry, and triage cycles running under a lead's edit."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backlog.models import BacklogEntry, Stage, TimelineEvent
from backlog.services.classifying import entries_classify
from backlog.services.entries import StaleEntryError, TriageDecision, entry_decide
from tests.factories import ChannelFactory, EntryFactory, UserFactory, resolution_method
from triage.services.cycles import cycle_run

HTMX_HEADERS = {"HTTP_HX_REQUEST": "true"}



def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def loaded_version(client: Client, entry: BacklogEntry) -> int:
    """Return the version the dashboard row of `entry` carries, as a browser would post it."""
    response = client.get(reverse("dashboard"), {"scope": "open"})
    row = next(row for row in response.context["rows"] if row.entry.pk == entry.pk)
    return row.entry.version


def decide(client: Client, entry: BacklogEntry, *, version: int, **fields):
    return client.post(
        reverse("entry-decide", args=[entry.pk]), {"version": version, **fields}, **HTMX_HEADERS
    )


@pytest.fixture
def web():
    return ChannelFactory(code="web", name="Web shop")


@pytest.mark.django_db
def test_second_editor_on_old_version_gets_409(web, lead, manager):
    entry = EntryFactory(channel=web)
    anna, carla = client_for(lead), client_for(manager)
    version_anna = loaded_version(anna, entry)
    version_carla = loaded_version(carla, entry)
    assert version_anna == version_carla == 1

    saved = decide(anna, entry, version=version_anna, owner=lead.pk)
    eta = timezone.localtime(timezone.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    rejected = decide(carla, entry, version=version_carla, due_at=eta)

    assert saved.status_code == 200
    assert rejected.status_code == 409
    message = rejected.content.decode()
    assert f"{entry.reference} was changed by Anna at" in message
    assert "The row now shows their values. Apply your change again if it still holds." in message
    entry.refresh_from_db()
    assert entry.owner == lead
    assert entry.due_at is None
    assert entry.version == 2
    decisions = TimelineEvent.objects.filter(entry=entry, kind=TimelineEvent.Kind.ASSIGNED)
    assert [(event.actor, list(event.changes)) for event in decisions] == [(lead, ["owner"])]


@pytest.mark.django_db
def test_stale_message_uses_site_time_and_full_name(web, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    editor = UserFactory(username="lead-otto", first_name="Otto", last_name="Brandt", roles=["lead"])
    entry = EntryFactory(channel=web)
    saved_at = datetime(2026, 12, 4, 21, 22, tzinfo=UTC)
    entry_decide(
        entry_id=entry.pk, expected_version=1, decision=TriageDecision(owner=editor), actor=editor, now=saved_at
    )

    with pytest.raises(StaleEntryError) as caught:
        entry_decide(
            entry_id=entry.pk, expected_version=1, decision=TriageDecision(note="x"), actor=editor, now=saved_at
        )

    message = caught.value.page_message("row")
    assert message.startswith(f"{entry.reference} was changed by Otto Brandt at 2026-12-04 22:22 CET after")
    assert "UTC" not in message
    assert "Reload" not in message
    assert "changed by lead-otto at 2026-12-04 22:22 CET" in str(caught.value)


@pytest.mark.django_db
def test_stale_message_skips_queueing_events(web, lead, manager):
    now = timezone.now()
    entry = EntryFactory(channel=web, ordered_at=now - timedelta(hours=10))
    anna, carla = client_for(lead), client_for(manager)
    decide(anna, entry, version=1, owner=lead.pk)
    # The cycle queues the entry after Anna's save, which leaves the version at 2.
    cycle_run(now=timezone.now())

    rejected = decide(carla, entry, version=1, owner=manager.pk)

    assert rejected.status_code == 409
    assert f"{entry.reference} was changed by Anna at" in rejected.content.decode()


@pytest.mark.django_db
def test_newer_version_is_reported_invalid(web, lead):
    entry = EntryFactory(channel=web)

    with pytest.raises(StaleEntryError) as caught:
        entry_decide(
            entry_id=entry.pk,
            expected_version=5,
            decision=TriageDecision(owner=lead),
            actor=lead,
            now=timezone.now(),
        )

    expected = f"Version 5 of {entry.reference} is invalid: the stored version is 1."
    assert str(caught.value).startswith(expected)
    assert caught.value.page_message("row") == expected
    assert "changed" not in str(caught.value)
    entry.refresh_from_db()
    assert entry.owner is None


@pytest.mark.django_db
def test_stale_row_shows_timeline_change_on_entry_page(web, lead, manager):
    entry = EntryFactory(channel=web)
    anna, carla = client_for(lead), client_for(manager)
    decide(anna, entry, version=1, owner=lead.pk)
    decide(carla, entry, version=1, owner=manager.pk)

    page = carla.get(f"/entries/{entry.pk}/").content.decode()

    assert "Triage decision" in page
    assert "Anna" in page
    assert page.count("Triage decision") == 1


@pytest.mark.django_db
def test_retry_with_current_version_succeeds(web, lead, manager):
    entry = EntryFactory(channel=web)
    anna, carla = client_for(lead), client_for(manager)
    decide(anna, entry, version=1, owner=lead.pk)
    decide(carla, entry, version=1, resolution_method=resolution_method("expedite").pk)

    retried = decide(carla, entry, version=2, resolution_method=resolution_method("expedite").pk)

    assert retried.status_code == 200
    entry.refresh_from_db()
    assert entry.owner == lead
    assert entry.resolution_method.code == "expedite"
    assert entry.version == 3


@pytest.mark.django_db
def test_cycle_reclassifying_does_not_make_edit_stale(web, lead):
    now = timezone.now()
    entry = EntryFactory(
        channel=web,
        stage=Stage.AWAITING_HANDOVER,
        ordered_at=now - timedelta(hours=40),
        handover_due_at=now - timedelta(hours=2),
    )
    anna = client_for(lead)
    version = loaded_version(anna, entry)

    outcome = cycle_run(now=now)
    response = decide(anna, entry, version=version, owner=lead.pk)

    assert outcome.queued == 1
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.backlog_type == "processing"
    assert entry.owner == lead


@pytest.mark.django_db
def test_classification_does_not_revert_lead_fields(web, lead):
    now = timezone.now()
    entry = EntryFactory(
        channel=web,
        stage=Stage.AWAITING_HANDOVER,
        ordered_at=now - timedelta(hours=40),
        handover_due_at=now - timedelta(hours=2),
    )
    # The cycle read the row before the lead saved, then writes its classification after.
    read_by_cycle = BacklogEntry.objects.get(pk=entry.pk)
    eta = now + timedelta(days=1)
    entry_decide(
        entry_id=entry.pk,
        expected_version=1,
        decision=TriageDecision(owner=lead, resolution_method=resolution_method("expedite"), due_at=eta),
        actor=lead,
        now=now,
    )

    entries_classify([read_by_cycle], now=now + timedelta(minutes=1))

    entry.refresh_from_db()
    assert entry.owner == lead
    assert entry.resolution_method.code == "expedite"
    assert entry.due_at == eta
    assert entry.version == 2
    assert entry.backlog_type == "processing"


@pytest.mark.django_db
def test_decided_entry_leaves_next_cycle_queue(web, lead):
    now = timezone.now()
    entry = EntryFactory(channel=web, ordered_at=now - timedelta(hours=10))
    cycle_run(now=now)
    anna = client_for(lead)
    eta = timezone.localtime(now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")

    decide(
        anna,
        entry,
        version=1,
        owner=lead.pk,
        resolution_method=resolution_method("expedite").pk,
        due_at=eta,
    )
    next_cycle = cycle_run(now=now + timedelta(minutes=30))

    assert next_cycle.ran
    assert next_cycle.queued == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_decisions_on_one_version_let_one_win(uses_postgres):
    web = ChannelFactory(code="web", name="Web shop")
    entry = EntryFactory(channel=web)
    editors = [UserFactory(username=f"lead-{n}", roles=["lead"]) for n in range(2)]
    barrier = threading.Barrier(len(editors))
    outcomes: dict[str, str] = {}

    def save(user) -> None:
        try:
            barrier.wait(timeout=10)
            entry_decide(
                entry_id=entry.pk,
                expected_version=1,
                decision=TriageDecision(owner=user),
                actor=user,
                now=timezone.now(),
            )
            outcomes[user.username] = "saved"
        except StaleEntryError:
            outcomes[user.username] = "stale"
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(user,)) for user in editors]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes.values()) == ["saved", "stale"]
    entry.refresh_from_db()
    winner = next(name for name, outcome in outcomes.items() if outcome == "saved")
    assert entry.owner.username == winner
    assert entry.version == 2
    assert TimelineEvent.objects.filter(entry=entry, kind=TimelineEvent.Kind.ASSIGNED).count() == 1
