"""The Olist reviews import: verbatim notes, skipped reviews, row errors, re-imports, real data."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F

from backlog.models import BacklogEntry, ImportRun, TimelineEvent
from backlog.services.imports import OlistOptions, import_olist
from backlog.services.imports.reviews import SOURCE, import_olist_reviews
from inbound.models import ContactChannel, InboundContact
from inbound.selectors import contact_figures, first_triage_or_detection_at
from tests.factories import EntryFactory

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "reviews"
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
ORDER_1 = "o0000000000000000000000000000001"
ORDER_2 = "o0000000000000000000000000000002"
UNKNOWN_ORDER = "o0000000000000000000000000000099"


@pytest.fixture
def orders():
    return {
        ORDER_1: EntryFactory(source="olist", external_ref=ORDER_1),
        ORDER_2: EntryFactory(source="olist", external_ref=ORDER_2),
    }


def test_reviews_import_keeps_notes_verbatim(orders):
    report = import_olist_reviews(DATA / "good", now=NOW)

    assert report.ok, report.errors
    contacts = {contact.external_ref: contact for contact in InboundContact.objects.all()}
    first = contacts[f"r0000000000000000000000000000001:{ORDER_1}"]
    assert first.note == (
        "Não chegou \n\nComprei há três semanas e até agora nada.\r\nJá liguei duas vezes, ninguém responde!"
    )
    assert first.entry == orders[ORDER_1]
    assert first.channel == ContactChannel.REVIEW
    assert first.source == SOURCE
    assert first.logged_by is None
    # Midnight in São Paulo (UTC-3 in April 2018) is 03:00 UTC.
    assert first.received_at == datetime(2018, 4, 7, 3, 0, tzinfo=UTC)
    second = contacts[f"r0000000000000000000000000000002:{ORDER_1}"]
    assert second.note == "Ainda aguardo a entrega… prazo expirou"
    # A message of spaces only is no comment, so the note is the title alone.
    assert contacts[f"r0000000000000000000000000000005:{ORDER_2}"].note == "Ótimo"


def test_reviews_import_counts_skipped_reviews(orders):
    report = import_olist_reviews(DATA / "good", now=NOW)

    assert report.reviews == 5
    assert report.created == 3
    assert report.without_comment == 1
    assert report.unknown_order == 1
    assert not InboundContact.objects.filter(external_ref__endswith=UNKNOWN_ORDER).exists()
    assert report.summary() == (
        "5 reviews: 3 contacts created, 0 already stored, 1 skipped because their order is not "
        "an entry, 1 without a comment."
    )


def test_reviews_import_writes_timeline_events(orders):
    import_olist_reviews(DATA / "good", now=NOW)

    events = list(
        orders[ORDER_1].events.filter(kind=TimelineEvent.Kind.CONTACT).order_by("id")
    )
    assert [event.changes for event in events] == [
        {"contacts": {"old": 0, "new": 1}},
        {"contacts": {"old": 1, "new": 2}},
    ]
    assert events[0].reason == "Customer contacted us via a review. Imported from the Olist reviews."
    assert events[0].actor is None


def test_reviews_reimport_changes_nothing(orders):
    import_olist_reviews(DATA / "good", now=NOW)
    event_count = TimelineEvent.objects.count()

    report = import_olist_reviews(DATA / "good", now=NOW)

    assert report.created == 0
    assert report.unchanged == 3
    assert InboundContact.objects.count() == 3
    assert TimelineEvent.objects.count() == event_count
    assert ImportRun.objects.filter(source=SOURCE).count() == 2


def test_reviews_bad_date_names_row_and_writes_nothing(orders):
    report = import_olist_reviews(DATA / "bad-date", now=NOW)

    assert not report.ok
    assert len(report.errors) == 1
    error = report.errors[0]
    # The header is row 1 and the first review spans one record, so the bad review is row 3.
    assert (error.row, error.column, error.value) == (3, "review_creation_date", "12/04/2018")
    assert str(error).startswith(
        "olist_order_reviews_dataset.csv, row 3, column review_creation_date: Invalid date"
    )
    assert not InboundContact.objects.exists()
    assert not TimelineEvent.objects.exists()


def test_reviews_dry_run_writes_nothing(orders):
    report = import_olist_reviews(DATA / "good", now=NOW, dry_run=True)

    assert report.created == 3
    assert not InboundContact.objects.exists()
    assert not TimelineEvent.objects.exists()
    assert not ImportRun.objects.exists()


def test_reviews_command_fails_on_bad_date(orders, capsys):
    with pytest.raises(CommandError, match="1 error found, so nothing was written."):
        call_command("import_olist_reviews", str(DATA / "bad-date"))

    assert "column review_creation_date" in capsys.readouterr().err


def test_reviews_command_reports_missing_file(tmp_path, capsys):
    with pytest.raises(CommandError, match="1 error found"):
        call_command("import_olist_reviews", str(tmp_path))

    assert "olist_order_reviews_dataset.csv is missing from the folder" in capsys.readouterr().err


def test_reviews_import_rejects_unknown_time_zone(orders):
    report = import_olist_reviews(DATA / "good", now=NOW, source_tz="Mars/Olympus")

    assert [error.value for error in report.errors] == ["Mars/Olympus"]
    assert not InboundContact.objects.exists()


def test_reviews_import_real_sample(real_data):
    folder = real_data / "olist-brazilian-ecommerce" / "sample-4k-with-reviews"
    if not folder.is_dir():
        pytest.skip(f"The Olist sample with reviews is missing (looked in {folder}).")
    orders = import_olist(folder, options=OlistOptions(catalog=folder), now=NOW)
    assert orders.ok, orders.errors
    assert BacklogEntry.objects.filter(source="olist").count() == 4000

    report = import_olist_reviews(folder, now=NOW)

    assert report.ok, report.errors
    assert report.reviews == 3986
    assert report.created == 1728
    assert report.without_comment == 2258
    assert report.unknown_order == 0
    assert import_olist_reviews(folder, now=NOW).created == 0
    figures = contact_figures(
        BacklogEntry.objects.filter(source="olist"), updates_at=first_triage_or_detection_at()
    )
    assert figures.entries_with_contacts == 1725
    assert figures.repeat_entries == 3
    assert (figures.contacts_before, figures.contacts_after) == (0, 1728)
    by_delivery = contact_figures(
        BacklogEntry.objects.filter(source="olist"), updates_at=F("delivered_at")
    )
    assert by_delivery.entries_with_reference == 1660
    assert (by_delivery.contacts_before, by_delivery.contacts_after) == (203, 1460)
