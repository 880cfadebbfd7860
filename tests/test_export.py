"""The CSV export: columns, filters, formula neutralisation and the round trip through the import."""

import csv
import io
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from backlog.models import BacklogEntry, Stage, Status
from backlog.services.export import EXPORT_COLUMNS, export_csv_lines, export_queryset
from backlog.services.imports import GenericOptions, import_generic
from tests.factories import ChannelFactory, EntryFactory

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
FORMULA_VALUES = ["=1+2", "+49 30 1234", "-5", "@SUM(A1)", "\tTAB", "\rCR", "'=quoted"]

pytestmark = pytest.mark.django_db


def export_text(params=None) -> str:
    return "".join(export_csv_lines(export_queryset(params, now=NOW)))


def export_rows(params=None) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(export_text(params).removeprefix("\ufeff"))))


@pytest.fixture
def reasons():
    return [
        {
            "signal": "handover_late",
            "type": "processing",
            "label": "Hand-over is late",
            "values": {},
        },
        {"signal": "region_surge", "type": "demand", "label": "Region surge", "values": {}},
    ]


def test_export_writes_task_columns(lead, reasons):
    entry = EntryFactory(
        external_ref="RX-1",
        owner=lead,
        due_at=datetime(2026, 5, 7, 9, 30, tzinfo=UTC),
        detected_at=datetime(2026, 5, 5, 8, 0, tzinfo=UTC),
        backlog_type="mixed",
        classification_reasons=reasons,
    )

    rows = export_rows()

    assert list(rows[0]) == list(EXPORT_COLUMNS)
    assert rows == [
        {
            "reference": entry.reference,
            "source": "test",
            "external_ref": "RX-1",
            "channel": "web",
            "stage": "awaiting_handover",
            "backlog_type": "mixed",
            "reasons": "Hand-over is late; Region surge",
            "owner": "lead-anna",
            "due_at": "2026-05-07T09:30:00Z",
            "detected_at": "2026-05-05T08:00:00Z",
        }
    ]


def test_export_starts_with_byte_order_mark():
    EntryFactory()

    assert export_text().startswith("\ufeffreference,")


def test_export_leaves_out_closed_entries():
    EntryFactory(external_ref="OPEN-1")
    EntryFactory(external_ref="CLOSED-1", status=Status.CLOSED)

    assert [row["external_ref"] for row in export_rows()] == ["OPEN-1"]


def test_export_applies_dashboard_filters(lead):
    store = ChannelFactory(code="store", name="Store")
    EntryFactory(external_ref="WEB-1")
    EntryFactory(external_ref="STORE-1", channel=store, owner=lead)
    EntryFactory(external_ref="STORE-2", channel=store, due_at=NOW - timedelta(hours=1))

    assert [row["external_ref"] for row in export_rows({"channel": "store"})] == [
        "STORE-1",
        "STORE-2",
    ]
    assert [row["external_ref"] for row in export_rows({"channel": "store", "unowned": "1"})] == [
        "STORE-2"
    ]
    assert [row["external_ref"] for row in export_rows({"overdue": "1"})] == ["STORE-2"]
    assert [row["external_ref"] for row in export_rows({"owner": "lead-anna"})] == ["STORE-1"]


@pytest.mark.parametrize("value", FORMULA_VALUES)
def test_export_neutralises_formula_cells(value):
    EntryFactory(external_ref=value)

    assert export_rows()[0]["external_ref"] == "'" + value


def test_export_leaves_plain_cells_alone():
    EntryFactory(external_ref="RX-1'2")

    assert export_rows()[0]["external_ref"] == "RX-1'2"


def test_exported_values_round_trip_through_import():
    for value in [*FORMULA_VALUES, "plain"]:
        EntryFactory(external_ref=value, stage=Stage.IN_TRANSIT)
    stored_before = sorted(BacklogEntry.objects.values_list("external_ref", flat=True))
    data = export_text().encode("utf-8")

    report = import_generic(data, options=GenericOptions(source="test"), now=NOW)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (0, 0, len(stored_before))
    assert sorted(BacklogEntry.objects.values_list("external_ref", flat=True)) == stored_before


def test_export_query_count_does_not_grow_with_rows(django_assert_max_num_queries, lead, reasons):
    EntryFactory.create_batch(30, owner=lead, classification_reasons=reasons)

    with django_assert_max_num_queries(2):
        lines = list(export_csv_lines(export_queryset(None, now=NOW)))

    assert len(lines) == 31


def test_export_view_streams_csv_for_support(client, support):
    EntryFactory(external_ref="RX-1")
    client.force_login(support)

    response = client.get(reverse("export-csv"))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="backlog-')
    body = b"".join(response.streaming_content).decode("utf-8")
    assert "RX-1" in body


def test_export_view_honours_query_filters(client, lead):
    store = ChannelFactory(code="store", name="Store")
    EntryFactory(external_ref="WEB-1")
    EntryFactory(external_ref="STORE-1", channel=store)
    client.force_login(lead)

    response = client.get(reverse("export-csv"), {"channel": "store"})

    body = b"".join(response.streaming_content).decode("utf-8")
    assert "STORE-1" in body
    assert "WEB-1" not in body


def test_export_view_rejects_invalid_filter(client, lead):
    client.force_login(lead)

    response = client.get(reverse("export-csv"), {"channel": "nowhere"})

    assert response.status_code == 400
    assert "channel" in response.content.decode()


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"unowned": "maybe"}, "unowned='maybe'"),
        ({"overdue": "2"}, "overdue='2'"),
        ({"type": "zzz"}, "type='zzz'"),
        ({"stage": "lost"}, "stage='lost'"),
        ({"owner": "nobody"}, "owner='nobody'"),
    ],
)
def test_export_view_rejects_each_invalid_value(client, lead, params, named):
    EntryFactory(external_ref="WEB-1")
    client.force_login(lead)

    response = client.get(reverse("export-csv"), params)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/plain")
    assert named in response.content.decode()


@pytest.mark.parametrize("value", ["0", "false", "off", "no", ""])
def test_export_flag_off_spellings_do_not_filter(lead, value):
    EntryFactory(external_ref="OWNED-1", owner=lead)

    assert [row["external_ref"] for row in export_rows({"unowned": value})] == ["OWNED-1"]


def test_export_view_needs_a_role(client, no_role_user):
    client.force_login(no_role_user)

    assert client.get(reverse("export-csv")).status_code == 403


def test_export_view_redirects_anonymous_to_login(client):
    response = client.get(reverse("export-csv"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_export_command_writes_file(tmp_path):
    EntryFactory(external_ref="=cmd")
    target = tmp_path / "backlog.csv"
    out = StringIO()

    call_command("export_backlog", "--output", str(target), stdout=out)

    assert "Wrote 1 entries" in out.getvalue()
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8-sig"))))
    assert rows[0]["external_ref"] == "'=cmd"


def test_export_command_rejects_unknown_channel(tmp_path):
    with pytest.raises(CommandError, match="Invalid export filter"):
        call_command("export_backlog", "--output", str(tmp_path / "x.csv"), "--channel", "nowhere")


def test_export_command_rejects_invalid_type(tmp_path):
    target = tmp_path / "x.csv"

    with pytest.raises(CommandError, match="type='zzz': Select a valid choice"):
        call_command("export_backlog", "--output", str(target), "--type", "zzz")
    assert not target.exists()
