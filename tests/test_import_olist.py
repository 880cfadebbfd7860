"""The Olist import: the as-of rules, idempotent re-imports, and the real sample."""

import csv
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.db.models import Count

from backlog.models import BacklogEntry, Channel, ImportRun, Stage, Status, TimelineEvent
from backlog.services.imports import OlistOptions, import_olist
from backlog.services.imports.olist import OrderFacts, duration_text, order_state_at, parse_as_of

SAMPLE_DATA = Path(__file__).parent / "data" / "olist" / "orders"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
AS_OF_TEXT = "2017-11-30T12:00"
AS_OF = datetime(2017, 11, 30, 12, 0, tzinfo=SAO_PAULO).astimezone(UTC)
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)


def sp(text: str) -> datetime:
    """Read a São Paulo wall-clock time, returned in UTC so that adding a timedelta is exact."""
    return datetime.fromisoformat(text).replace(tzinfo=SAO_PAULO).astimezone(UTC)


def olist(folder: Path, *, as_of: datetime | None = AS_OF, dry_run: bool = False, **options):
    return import_olist(
        folder, options=OlistOptions(as_of=as_of, **options), now=NOW, dry_run=dry_run
    )


def stored(ref: str) -> BacklogEntry:
    return BacklogEntry.objects.get(source="olist", external_ref=ref)


# The as-of rules, one order at a time


def facts(status: str = "delivered", **times: str | None) -> OrderFacts:
    return OrderFacts(
        status=status,
        purchased_at=sp(times.get("purchased", "2017-11-20T10:00")),
        approved_at=sp(times["approved"]) if times.get("approved") else None,
        handed_over_at=sp(times["handed_over"]) if times.get("handed_over") else None,
        delivered_at=sp(times["delivered"]) if times.get("delivered") else None,
    )


def test_order_delivered_exactly_at_as_of_is_closed():
    state = order_state_at(
        facts(
            approved="2017-11-20T11:00",
            handed_over="2017-11-21T10:00",
            delivered="2017-11-30T12:00",
        ),
        AS_OF,
    )

    assert (state.stage, state.closed, state.closed_at) == (Stage.DELIVERED, True, AS_OF)


def test_order_delivered_just_after_as_of_is_in_transit():
    state = order_state_at(
        facts(
            approved="2017-11-20T11:00",
            handed_over="2017-11-21T10:00",
            delivered="2017-11-30T12:00:01",
        ),
        AS_OF,
    )

    assert (state.stage, state.closed, state.delivered_at) == (Stage.IN_TRANSIT, False, None)


def test_order_handed_over_just_after_as_of_awaits_hand_over():
    state = order_state_at(
        facts(approved="2017-11-20T11:00", handed_over="2017-11-30T12:00:01"), AS_OF
    )

    assert (state.stage, state.handed_over_at) == (Stage.AWAITING_HANDOVER, None)


def test_order_approved_at_as_of_awaits_hand_over():
    state = order_state_at(facts(approved="2017-11-30T12:00"), AS_OF)

    assert state.stage == Stage.AWAITING_HANDOVER


def test_order_approved_after_as_of_awaits_approval():
    state = order_state_at(facts(approved="2017-11-30T12:00:01"), AS_OF)

    assert (state.stage, state.approved_at, state.closed) == (Stage.AWAITING_APPROVAL, None, False)


def test_canceled_order_closes_at_latest_timestamp_by_as_of():
    state = order_state_at(facts("canceled", approved="2017-11-30T12:00"), AS_OF)

    assert (state.closed, state.canceled, state.closed_at) == (True, True, AS_OF)
    assert state.stage == Stage.AWAITING_HANDOVER


def test_canceled_order_with_later_timestamp_stays_open():
    state = order_state_at(facts("canceled", approved="2017-11-30T12:00:01"), AS_OF)

    assert (state.closed, state.canceled, state.stage) == (False, False, Stage.AWAITING_APPROVAL)


def test_unavailable_order_stays_open():
    state = order_state_at(facts("unavailable", approved="2017-11-20T11:00"), AS_OF)

    assert (state.closed, state.stage) == (False, Stage.AWAITING_HANDOVER)


def test_as_of_without_offset_is_read_in_source_zone():
    assert parse_as_of(AS_OF_TEXT) == AS_OF
    assert parse_as_of("2017-11-30T14:00+00:00") == AS_OF


# A small data set written for these tests


@pytest.mark.django_db
def test_small_folder_imports_orders_purchased_by_as_of():
    report = olist(SAMPLE_DATA)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (8, 0, 0)
    assert not BacklogEntry.objects.filter(external_ref="ord-future").exists()
    assert Channel.objects.get(code="marketplace").name == "Marketplace"


@pytest.mark.django_db
def test_small_folder_states_follow_rules():
    olist(SAMPLE_DATA)

    states = {
        entry.external_ref: (entry.stage, entry.status)
        for entry in BacklogEntry.objects.filter(source="olist")
    }
    assert states == {
        "ord-delivered": (Stage.DELIVERED, Status.CLOSED),
        "ord-transit": (Stage.IN_TRANSIT, Status.OPEN),
        "ord-handover": (Stage.AWAITING_HANDOVER, Status.OPEN),
        "ord-approval": (Stage.AWAITING_APPROVAL, Status.OPEN),
        "ord-canceled-closed": (Stage.AWAITING_HANDOVER, Status.CLOSED),
        "ord-canceled-open": (Stage.AWAITING_APPROVAL, Status.OPEN),
        "ord-unavailable": (Stage.AWAITING_HANDOVER, Status.OPEN),
        "ord-delivered-at-t": (Stage.DELIVERED, Status.CLOSED),
    }


@pytest.mark.django_db
def test_small_folder_maps_order_fields():
    olist(SAMPLE_DATA)

    transit = stored("ord-transit")
    assert transit.customer_name == "Customer u2bbbbbb"
    assert transit.customer_email == ""
    assert transit.region == "RJ"
    assert transit.ordered_at == sp("2017-11-25T09:00")
    assert transit.detected_at == transit.ordered_at
    assert transit.handover_due_at == sp("2017-11-27T09:20")
    assert transit.promised_at == sp("2017-11-29T00:00")
    assert transit.channel.code == "marketplace"
    lines = list(transit.lines.values_list("sku", "quantity", "category", "seller", "unit_price"))
    assert lines == [
        ("prod-garden", 2, "ferramentas_jardim", "seller-b", Decimal("20.00")),
        ("prod-toys", 1, "brinquedos", "seller-a", Decimal("49.90")),
    ]


@pytest.mark.django_db
def test_small_folder_drops_timestamps_after_as_of():
    olist(SAMPLE_DATA)

    transit = stored("ord-transit")
    assert transit.handed_over_at == sp("2017-11-27T10:00")
    assert transit.delivered_at is None
    handover = stored("ord-handover")
    assert (handover.approved_at, handover.handed_over_at) == (sp("2017-11-28T09:00"), None)


@pytest.mark.django_db
def test_small_folder_canceled_order_closed_with_cancel_refund():
    olist(SAMPLE_DATA)

    canceled = stored("ord-canceled-closed")
    assert canceled.closed_at == sp("2017-11-10T14:30")
    assert canceled.resolution_method.code == "cancel-refund"
    assert stored("ord-canceled-open").resolution_method is None


@pytest.mark.django_db
def test_small_folder_unavailable_order_fires_allocation_signal():
    olist(SAMPLE_DATA)

    unavailable = stored("ord-unavailable")
    assert unavailable.items_unavailable is True
    assert unavailable.status == Status.OPEN
    assert "items_unavailable" in [
        reason["signal"] for reason in unavailable.classification_reasons
    ]
    assert unavailable.classified_at == AS_OF


@pytest.mark.django_db
def test_small_folder_classifies_late_hand_over_as_of():
    olist(SAMPLE_DATA)

    signals = [reason["signal"] for reason in stored("ord-handover").classification_reasons]
    assert "handover_late" in signals
    assert stored("ord-delivered").classified_at is None


@pytest.mark.django_db
def test_small_folder_reimport_changes_nothing():
    olist(SAMPLE_DATA)
    events = TimelineEvent.objects.count()

    report = olist(SAMPLE_DATA)

    assert (report.created, report.updated, report.unchanged) == (0, 0, 8)
    assert TimelineEvent.objects.count() == events


@pytest.mark.django_db
def test_small_folder_later_as_of_updates_progress():
    olist(SAMPLE_DATA)

    report = olist(SAMPLE_DATA, as_of=sp("2017-12-03T00:00"))

    assert report.created == 1
    transit = stored("ord-transit")
    assert (transit.stage, transit.status, transit.closed_at) == (
        Stage.DELIVERED,
        Status.CLOSED,
        sp("2017-12-02T10:00"),
    )
    event = transit.events.get(kind=TimelineEvent.Kind.UPDATED)
    assert event.changes["stage"] == {"old": Stage.IN_TRANSIT, "new": Stage.DELIVERED}


@pytest.mark.django_db
def test_small_folder_keeps_status_and_method_set_by_staff():
    olist(SAMPLE_DATA)
    BacklogEntry.objects.filter(external_ref="ord-handover").update(status=Status.ON_HOLD)

    olist(SAMPLE_DATA, as_of=sp("2017-11-30T12:30"))

    assert stored("ord-handover").status == Status.ON_HOLD


@pytest.mark.django_db
def test_small_folder_default_as_of_is_latest_event():
    report = olist(SAMPLE_DATA, as_of=None)

    assert report.created == 9
    assert "latest recorded event" in report.notes[0]
    assert stored("ord-future").status == Status.CLOSED


@pytest.mark.django_db
def test_small_folder_dry_run_writes_nothing():
    report = olist(SAMPLE_DATA, dry_run=True)

    assert report.created == 8
    assert BacklogEntry.objects.count() == 0
    assert not Channel.objects.filter(code="marketplace").exists()
    assert ImportRun.objects.count() == 0


@pytest.mark.django_db
def test_small_folder_shift_to_now_moves_every_time():
    olist(SAMPLE_DATA, shift_to_now=True)

    shift = NOW - AS_OF
    transit = stored("ord-transit")
    assert transit.ordered_at == sp("2017-11-25T09:00") + shift
    assert transit.promised_at == sp("2017-11-29T00:00") + shift
    assert stored("ord-delivered").closed_at == sp("2017-11-25T15:00") + shift
    assert transit.classified_at == NOW


@pytest.mark.django_db
def test_shift_note_reads_days_hours_minutes():
    report = olist(SAMPLE_DATA, shift_to_now=True, dry_run=True)

    # From AS_OF, 2017-11-30 14:00 UTC (São Paulo was on summer time), to NOW.
    assert "moved forward by 3078 days 22 h, so that" in report.notes[1]


@pytest.mark.parametrize(
    ("duration", "text"),
    [
        (timedelta(days=3291, hours=7, minutes=27, seconds=1.684855), "3291 days 7 h 27 min"),
        (timedelta(days=1, minutes=5), "1 day 5 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(seconds=42), "42 s"),
    ],
)
def test_duration_text_rounds_down_to_minutes(duration, text):
    assert duration_text(duration) == text


@pytest.mark.django_db
def test_missing_catalog_is_an_error(tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    for name in (
        "olist_orders_dataset.csv",
        "olist_order_items_dataset.csv",
        "olist_customers_dataset.csv",
    ):
        (folder / name).write_bytes((SAMPLE_DATA / name).read_bytes())

    report = olist(folder)

    assert [error.file for error in report.errors] == ["olist_products_dataset.csv"]
    assert BacklogEntry.objects.count() == 0
    assert ImportRun.objects.get().errors[0]["file"] == "olist_products_dataset.csv"


@pytest.mark.django_db
def test_bad_timestamp_names_file_row_and_column(tmp_path):
    folder = tmp_path / "orders"
    folder.mkdir()
    for path in SAMPLE_DATA.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    orders = folder / "olist_orders_dataset.csv"
    orders.write_text(orders.read_text().replace("2017-11-28 09:00:00", "28/11/2017 09:00"))

    report = olist(folder, catalog=SAMPLE_DATA.parent / "catalog")

    assert [(error.file, error.row, error.column, error.value) for error in report.errors] == [
        ("olist_orders_dataset.csv", 4, "order_approved_at", "28/11/2017 09:00")
    ]
    assert BacklogEntry.objects.count() == 0


@pytest.mark.django_db
def test_command_imports_folder_with_timings():
    out = StringIO()

    call_command(
        "import_orders", str(SAMPLE_DATA), "--format", "olist", "--as-of", AS_OF_TEXT, stdout=out
    )

    assert "8 created, 0 updated, 0 unchanged." in out.getvalue()
    assert "Timings: read" in out.getvalue()


# The real sample of the public data set


def expected_counts(folder: Path, as_of: str) -> Counter:
    """Count (status, stage) per order with the as-of rules, straight from the orders file.

    Olist's times share one format and one zone, so the text compares like the time.
    """
    counts: Counter = Counter()
    with (folder / "olist_orders_dataset.csv").open(newline="") as handle:
        for order in csv.DictReader(handle):
            if order["order_purchase_timestamp"] > as_of:
                continue
            times = [
                order[column]
                for column in (
                    "order_purchase_timestamp",
                    "order_approved_at",
                    "order_delivered_carrier_date",
                    "order_delivered_customer_date",
                )
            ]
            approved, handed_over, delivered = (
                value if value and value <= as_of else "" for value in times[1:]
            )
            if delivered:
                stage = "delivered"
            elif handed_over:
                stage = "in_transit"
            elif approved:
                stage = "awaiting_handover"
            else:
                stage = "awaiting_approval"
            canceled_by_then = (
                order["order_status"] == "canceled"
                and max(value for value in times if value) <= as_of
            )
            status = "closed" if delivered or canceled_by_then else "open"
            counts[(status, stage)] += 1
    return counts


@pytest.mark.realdata
@pytest.mark.django_db
def test_sample_stage_counts_match_rules(olist_sample):
    report = olist(olist_sample, as_of=parse_as_of(AS_OF_TEXT))

    assert report.errors == []
    stored_counts = Counter(
        {
            (row["status"], row["stage"]): row["n"]
            for row in BacklogEntry.objects.values("status", "stage").annotate(n=Count("id"))
        }
    )
    assert stored_counts == expected_counts(olist_sample, "2017-11-30 12:00:00")
    assert stored_counts[("open", "awaiting_handover")] == 158
    assert stored_counts[("open", "in_transit")] == 258


@pytest.mark.realdata
@pytest.mark.django_db
def test_sample_reimport_changes_nothing(olist_sample):
    first = olist(olist_sample, as_of=parse_as_of(AS_OF_TEXT))

    second = olist(olist_sample, as_of=parse_as_of(AS_OF_TEXT))

    assert first.created > 3000
    assert (second.created, second.updated, second.unchanged) == (0, 0, first.created)


@pytest.mark.realdata
@pytest.mark.django_db
def test_sample_black_friday_entries_are_demand_driven(olist_sample):
    olist(olist_sample, as_of=parse_as_of(AS_OF_TEXT))

    surge_days = Counter(
        reason["values"]["day"]
        for entry in BacklogEntry.objects.open().filter(source="olist")
        for reason in entry.classification_reasons
        if reason["type"] == "demand"
    )
    assert surge_days["2017-11-24"] > 0
    assert BacklogEntry.objects.open().filter(backlog_type__in=["demand", "mixed"]).exists()


@pytest.mark.realdata
@pytest.mark.django_db
def test_sample_dry_run_writes_nothing(olist_sample):
    report = olist(olist_sample, as_of=parse_as_of(AS_OF_TEXT), dry_run=True)

    assert report.created > 3000
    assert BacklogEntry.objects.count() == 0
    assert ImportRun.objects.count() == 0


@pytest.mark.realdata
@pytest.mark.django_db
def test_sample_full_import_takes_seconds(olist_sample):
    report = olist(olist_sample, as_of=None)

    assert report.created == 8000
    assert sum(report.timings.get(step, 0) for step in ("read", "prepare", "write")) < 15
