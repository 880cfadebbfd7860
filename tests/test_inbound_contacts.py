"""Inbound customer contacts: the logging service, the entry pages, the API and the figures."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse

from backlog.models import BacklogEntry, TimelineEvent
from config.urls import urlpatterns as project_urlpatterns
from comms.models import CustomerUpdate, MessageStage
from inbound.models import ContactChannel, InboundContact
from inbound.selectors import contact_figures, first_customer_update_at, first_event_at, first_triage_or_detection_at
from inbound.services import ContactRejected, contact_log
from tests.factories import EntryFactory

# The project's URLs plus this app's, mounted where config/urls.py is to include them.
urlpatterns = [
    *project_urlpatterns,
    path("contacts/", include("inbound.urls")),
    path("api/contacts/", include("inbound.api_urls")),
]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
# Before every contact time the tests use; a contact cannot predate its order.
ORDERED_AT = datetime(2026, 4, 1, 8, tzinfo=UTC)


def log(entry, *, received_at=None, channel=ContactChannel.EMAIL, note="Where is my order?", actor=None):
    return contact_log(
        entry_id=entry.pk,
        channel=channel,
        note=note,
        received_at=received_at or NOW,
        actor=actor,
        now=NOW,
    )


# The service


def test_contact_log_writes_contact_and_event(support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    log(entry, actor=support, note="Cadê meu pedido?\nJá faz 10 dias.")

    contact = log(entry, actor=support, channel=ContactChannel.PHONE, note="second call")

    assert entry.inbound_contacts.count() == 2
    assert contact.logged_by == support
    assert contact.received_at == NOW
    first = entry.inbound_contacts.first()
    assert first.note == "Cadê meu pedido?\nJá faz 10 dias."
    events = list(entry.events.filter(kind=TimelineEvent.Kind.CONTACT).order_by("id"))
    assert [event.changes for event in events] == [
        {"contacts": {"old": 0, "new": 1}},
        {"contacts": {"old": 1, "new": 2}},
    ]
    assert events[0].reason == "Customer contacted us via email."
    assert events[1].reason == "Customer contacted us by phone."
    assert events[1].actor == support
    assert events[1].at == NOW


def test_contact_log_leaves_entry_version_alone():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)

    log(entry)

    entry.refresh_from_db()
    assert entry.version == 1


def test_contact_log_rejects_future_time():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)

    with pytest.raises(ContactRejected, match="in the future"):
        log(entry, received_at=NOW + timedelta(minutes=1))

    assert not InboundContact.objects.exists()
    assert not entry.events.exists()


def test_contact_log_rejects_unknown_channel():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)

    with pytest.raises(ContactRejected, match="Unknown channel 'fax'"):
        log(entry, channel="fax")


# Pages


def test_support_logs_contact_from_entry_page(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(support)

    response = client.post(
        reverse("entry-contact-log", args=[entry.pk]),
        {"channel": "chat", "note": "Pedido atrasado", "received_at": ""},
        follow=True,
    )

    assert response.redirect_chain == [(reverse("entry-detail", args=[entry.pk]), 302)]
    assert "Contact logged." in response.content.decode()
    contact = InboundContact.objects.get()
    assert (contact.channel, contact.note, contact.logged_by) == ("chat", "Pedido atrasado", support)


def test_contact_form_reads_time_in_site_zone(client, support, settings):
    settings.TIME_ZONE = "America/Sao_Paulo"
    entry = EntryFactory(ordered_at=datetime(2026, 1, 1, tzinfo=UTC), detected_at=datetime(2026, 1, 1, tzinfo=UTC))
    client.force_login(support)

    client.post(
        reverse("entry-contact-log", args=[entry.pk]),
        {"channel": "phone", "note": "", "received_at": "2026-01-10T09:30"},
    )

    assert InboundContact.objects.get().received_at == datetime(2026, 1, 10, 12, 30, tzinfo=UTC)


def test_contact_form_invalid_channel_logs_nothing(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(support)

    response = client.post(
        reverse("entry-contact-log", args=[entry.pk]), {"channel": "fax"}, follow=True
    )

    assert "The contact was not logged. Channel: Select a valid choice." in response.content.decode()
    assert not InboundContact.objects.exists()


def test_contact_pages_reject_user_without_role(client, no_role_user):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(no_role_user)

    assert client.get(reverse("entry-contacts", args=[entry.pk])).status_code == 403
    response = client.post(reverse("entry-contact-log", args=[entry.pk]), {"channel": "email"})

    assert response.status_code == 403
    assert not InboundContact.objects.exists()


def test_contact_log_view_rejects_get(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(support)

    assert client.get(reverse("entry-contact-log", args=[entry.pk])).status_code == 405


def test_contact_list_page_shows_notes_verbatim(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    log(entry, note="Não recebi o produto & <nada>")
    client.force_login(support)

    response = client.get(reverse("entry-contacts", args=[entry.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert "1 contact</h2>" in page
    assert "Não recebi o produto &amp; &lt;nada&gt;" in page


def test_contact_panel_tag_shows_count_and_form():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    log(entry)
    log(entry)

    html = Template("{% load inbound_contacts %}{% contact_panel entry %}").render(
        Context({"entry": entry})
    )

    assert "2 contacts logged" in html
    assert reverse("entry-contact-log", args=[entry.pk]) in html


# API


def test_api_creates_contact_by_reference(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(support)

    response = client.post(
        "/api/contacts/",
        {"entry": entry.reference, "channel": "marketplace_message", "note": "  Olá!  "},
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["entry"] == entry.pk
    assert body["entry_reference"] == entry.reference
    assert body["logged_by"] == "support-ben"
    contact = InboundContact.objects.get()
    assert contact.note == "  Olá!  "
    assert entry.events.get(kind=TimelineEvent.Kind.CONTACT).changes == {
        "contacts": {"old": 0, "new": 1}
    }


def test_api_lists_contacts_of_one_entry(client, lead):
    entry, other = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT), EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    log(entry, received_at=NOW - timedelta(hours=2))
    log(entry)
    log(other)
    client.force_login(lead)

    response = client.get("/api/contacts/", {"entry": entry.pk})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["entry"] for row in results] == [entry.pk, entry.pk]
    assert results[0]["received_at"] < results[1]["received_at"]


@pytest.mark.parametrize(
    ("entry_value", "message"),
    [
        ("BL-999999", "No backlog entry has the id 999999."),
        ("order-1", "Expected an entry id such as 123 or a reference such as BL-000123"),
    ],
)
def test_api_rejects_unknown_entry(client, support, entry_value, message):
    client.force_login(support)

    response = client.post(
        "/api/contacts/", {"entry": entry_value, "channel": "email"}, content_type="application/json"
    )

    assert response.status_code == 400
    assert message in response.json()["entry"][0]


def test_api_rejects_future_time(client, support):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(support)

    response = client.post(
        "/api/contacts/",
        {"entry": entry.pk, "channel": "email", "received_at": "2999-01-01T00:00:00Z"},
        content_type="application/json",
    )

    assert response.status_code == 400
    assert "in the future" in response.json()["received_at"][0]


def test_api_rejects_user_without_role(client, no_role_user):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    client.force_login(no_role_user)

    response = client.post(
        "/api/contacts/", {"entry": entry.pk, "channel": "email"}, content_type="application/json"
    )

    assert response.status_code == 403
    assert client.get("/api/contacts/").status_code == 403


# Repeat-contact figures


def test_contact_figures_count_repeats():
    once, twice, thrice, never = (EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT) for _ in range(4))
    log(once)
    for _ in range(2):
        log(twice)
    for _ in range(3):
        log(thrice)

    figures = contact_figures(BacklogEntry.objects.all())

    assert figures.entries == 4
    assert figures.entries_with_contacts == 3
    assert figures.contacts == 6
    assert figures.repeat_entries == 2
    assert figures.contacts_per_entry == 2.0
    assert figures.repeat_share == pytest.approx(2 / 3)
    assert figures.contacts_before is None


def test_contact_figures_split_at_reference_event():
    triaged, untriaged = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT), EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    TimelineEvent.objects.create(entry=triaged, kind=TimelineEvent.Kind.TRIAGED, at=NOW - timedelta(hours=5))
    TimelineEvent.objects.create(entry=triaged, kind=TimelineEvent.Kind.TRIAGED, at=NOW - timedelta(hours=1))
    log(triaged, received_at=NOW - timedelta(hours=6))
    # Exactly at the first triage event counts as after it.
    log(triaged, received_at=NOW - timedelta(hours=5))
    log(triaged, received_at=NOW - timedelta(hours=2))
    log(untriaged, received_at=NOW - timedelta(hours=3))
    entries = BacklogEntry.objects.all()

    figures = contact_figures(entries, updates_at=first_event_at(TimelineEvent.Kind.TRIAGED))

    assert figures.entries_with_reference == 1
    assert (figures.contacts_before, figures.contacts_after) == (1, 2)
    assert figures.contacts_per_entry_before == 1.0
    assert figures.contacts_per_entry_after == 2.0
    assert figures.contacts == 4


def test_contact_figures_fall_back_to_detection():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=NOW - timedelta(days=2))
    log(entry, received_at=NOW - timedelta(days=3))
    log(entry, received_at=NOW - timedelta(days=1))

    figures = contact_figures(BacklogEntry.objects.all(), updates_at=first_triage_or_detection_at())

    assert figures.entries_with_reference == 1
    assert (figures.contacts_before, figures.contacts_after) == (1, 1)


def test_contact_figures_run_one_query():
    for _ in range(3):
        log(EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT))

    with CaptureQueriesContext(connection) as queries:
        contact_figures(BacklogEntry.objects.all(), updates_at=first_triage_or_detection_at())

    assert len(queries.captured_queries) == 1


def test_contact_before_order_is_rejected(lead):
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)

    with pytest.raises(ContactRejected, match="before the order was placed"):
        contact_log(
            entry_id=entry.pk,
            channel="email",
            note="where is it?",
            received_at=ORDERED_AT - timedelta(days=1),
            actor=lead,
            now=NOW,
        )


def test_contact_figures_split_at_first_customer_update():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    CustomerUpdate.objects.create(
        entry=entry, stage=MessageStage.INTAKE, status=CustomerUpdate.Status.QUEUED, created_at=NOW - timedelta(hours=4)
    )
    log(entry, received_at=NOW - timedelta(hours=6))
    log(entry, received_at=NOW - timedelta(hours=5))
    log(entry, received_at=NOW - timedelta(hours=1))

    figures = contact_figures(BacklogEntry.objects.all(), updates_at=first_customer_update_at())

    assert (figures.contacts_before, figures.contacts_after) == (2, 1)


def test_contact_figures_command_prints_split():
    entry = EntryFactory(ordered_at=ORDERED_AT, detected_at=ORDERED_AT)
    CustomerUpdate.objects.create(
        entry=entry, stage=MessageStage.INTAKE, status=CustomerUpdate.Status.QUEUED, created_at=NOW - timedelta(hours=4)
    )
    log(entry, received_at=NOW - timedelta(hours=6))
    output = io.StringIO()

    call_command("contact_figures", stdout=output)

    assert "contacts before 1 (1.000 per entry), after 0" in output.getvalue()
