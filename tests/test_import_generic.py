"""The generic CSV import: encodings, delimiters, dates, idempotent re-imports and errors."""

import codecs
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backlog.models import BacklogEntry, ImportRun, Stage, Status, TimelineEvent
from backlog.services.imports import (
    EntryRow,
    GenericOptions,
    LineRow,
    entries_upsert,
    import_generic,
)
from backlog.services.imports.generic import KNOWN_COLUMNS
from backlog.services.imports.report import MAX_REPORTED_ERRORS
from backlog.services.imports.reading import (
    choose_delimiter,
    neutralise_formula,
    strip_formula_guard,
)
from tests.factories import ChannelFactory

DATA = Path(__file__).parent / "data" / "generic"
NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db):
    return ChannelFactory(code="web", name="Web shop")


@pytest.fixture
def store(db):
    return ChannelFactory(code="store", name="Store pick-up")


def run(data: bytes, dry_run: bool = False, **options):
    options.setdefault("channel", "web")
    options.setdefault("file_name", "test.csv")
    return import_generic(data, options=GenericOptions(**options), now=NOW, dry_run=dry_run)


def read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def entry(ref: str, source: str = "generic") -> BacklogEntry:
    return BacklogEntry.objects.get(source=source, external_ref=ref)


def line_tuples(ref: str, source: str = "generic") -> list[tuple]:
    return list(
        entry(ref, source).lines.values_list("sku", "quantity", "category", "seller", "unit_price")
    )


# Excel's "CSV UTF-8" with a byte order mark


def test_bom_file_creates_three_entries(web):
    data = read("excel_utf8_bom.csv")
    assert data.startswith(codecs.BOM_UTF8)

    report = run(data)

    assert report.errors == []
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert report.encoding == "utf-8-sig"
    assert report.ignored_columns == ["backlog_type"]
    refs = sorted(BacklogEntry.objects.values_list("external_ref", flat=True))
    assert refs == ["RX-40001", "RX-40002", "RX-40003"]
    assert line_tuples("RX-40001") == [("SKU-4471", 2, "", "", None)]
    assert entry("RX-40001").promised_at == datetime(2026, 5, 11, 22, 0, tzinfo=UTC)


def test_bom_column_backlog_type_is_never_imported(web):
    run(read("excel_utf8_bom.csv"))

    first = entry("RX-40001")
    assert first.classified_at == NOW
    assert "processing" not in [reason["signal"] for reason in first.classification_reasons]


def test_file_without_bom_gives_identical_result(web):
    data = read("excel_utf8_bom.csv")
    with_bom = run(data, source="with-bom")
    without_bom = run(data.removeprefix(codecs.BOM_UTF8), source="without-bom")

    assert without_bom.encoding == "utf-8"
    assert (without_bom.created, without_bom.errors) == (with_bom.created, with_bom.errors)
    assert without_bom.ignored_columns == with_bom.ignored_columns
    fields = ("external_ref", "promised_at", "stage", "status", "channel_id", "ordered_at")
    stored = {
        source: list(
            BacklogEntry.objects.filter(source=source).order_by("external_ref").values_list(*fields)
        )
        for source in ("with-bom", "without-bom")
    }
    assert stored["with-bom"] == stored["without-bom"]
    for ref in ("RX-40001", "RX-40002", "RX-40003"):
        assert line_tuples(ref, "with-bom") == line_tuples(ref, "without-bom")


# Windows-1252


@pytest.mark.parametrize("encoding", ["auto", "cp1252"])
def test_cp1252_names_stored_exactly(web, encoding):
    report = run(read("names_cp1252.csv"), encoding=encoding)

    assert report.errors == []
    assert report.encoding == "cp1252"
    assert entry("RX-41001").customer_name == "Jürgen Weiß"
    assert entry("RX-41001").note == "Karton beschädigt"
    assert entry("RX-41002").customer_name == "Inês Araújo"
    assert entry("RX-41003").customer_name == "Zoë Ørsted"
    assert entry("RX-41003").note == "Lieferung verspätet – Kunde informiert"


def test_cp1252_file_read_as_utf8_fails(web):
    report = run(read("names_cp1252.csv"), encoding="utf-8")

    assert len(report.errors) == 1
    error = report.errors[0]
    assert error.row == 2
    assert "not valid UTF-8" in error.message
    assert "Windows-1252" in error.message
    assert error.value == "byte 0xFC"
    assert BacklogEntry.objects.count() == 0


def test_failed_import_is_recorded_for_audit(web):
    run(read("names_cp1252.csv"), encoding="utf-8", file_name="names.csv")

    import_run = ImportRun.objects.get()
    assert import_run.file_name == "names.csv"
    assert import_run.created == 0
    assert import_run.errors[0]["row"] == 2


def test_utf8_file_read_as_cp1252_rejected(web):
    data = read("names_cp1252.csv").decode("cp1252").encode("utf-8")

    report = run(data, encoding="cp1252")

    assert report.errors[0].row == 2
    assert "garble" in report.errors[0].message
    assert BacklogEntry.objects.count() == 0


def test_utf8_bom_file_read_as_cp1252_rejected(web):
    report = run(read("excel_utf8_bom.csv"), encoding="cp1252")

    assert "byte order mark" in report.errors[0].message
    assert BacklogEntry.objects.count() == 0


# Semicolons from German Excel


@pytest.mark.parametrize("delimiter", ["auto", ";"])
def test_semicolon_file_gives_five_columns(web, delimiter):
    report = run(read("german_semicolon.csv"), delimiter=delimiter)

    assert report.errors == []
    assert report.delimiter == ";"
    assert report.delimiter_detected is (delimiter == "auto")
    assert [column.field for column in report.columns] == [
        "order_ref",
        "sku",
        "qty",
        "promised_at",
        "note",
    ]
    assert entry("RX-42001").note == "Karton beschädigt, Ecke eingedrückt"
    assert line_tuples("RX-42002") == [("SKU-2002", 3, "", "", None)]


def test_semicolon_file_forced_comma_is_single_column_error(web):
    report = run(read("german_semicolon.csv"), delimiter=",")

    assert len(report.errors) == 1
    assert report.errors[0].row == 1
    assert "single column" in report.errors[0].message
    assert BacklogEntry.objects.count() == 0


def test_delimiter_detection_warns_when_both_split_header():
    choice = choose_delimiter(
        "order_ref;customer_name,region\n", "auto", known_columns=KNOWN_COLUMNS
    )

    assert choice.detected
    assert "Check the column mapping" in choice.warning


def test_delimiter_detection_sure_for_plain_header():
    choice = choose_delimiter(
        "order_ref;sku;qty;eta;note\nA;B;1;2026-05-12;x, y;\n", "auto", known_columns=KNOWN_COLUMNS
    )

    assert choice.delimiter == ";"
    assert choice.warning == ""


def test_row_with_extra_values_is_an_error(web):
    data = b"order_ref;sku\nRX-1;SKU-1;surplus\n"

    report = run(data)

    assert report.errors[0].row == 2
    assert report.errors[0].value == "surplus"


# Re-imports


def test_reimport_same_file_changes_nothing(web):
    first = run(read("orders_mon.csv"))
    events_after_first = TimelineEvent.objects.count()

    second = run(read("orders_mon.csv"))

    assert (first.created, first.updated, first.unchanged) == (3, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 0, 3)
    assert BacklogEntry.objects.count() == 3
    assert TimelineEvent.objects.count() == events_after_first


def test_reimport_changed_row_logs_change(web):
    run(read("orders_mon.csv"))

    report = run(read("orders_mon_v2.csv"))

    assert (report.created, report.updated, report.unchanged) == (1, 1, 2)
    assert BacklogEntry.objects.count() == 4
    changed = entry("RX-50002")
    assert changed.promised_at == datetime(2026, 5, 10, 22, 0, tzinfo=UTC)
    assert changed.version == 2
    event = changed.events.get(kind=TimelineEvent.Kind.UPDATED)
    assert event.changes == {
        "promised_at": {"old": "2026-05-06T22:00:00+00:00", "new": "2026-05-10T22:00:00+00:00"}
    }
    assert event.actor is None


def test_reimport_new_order_with_same_content_is_created(web):
    run(read("orders_mon.csv"))

    run(read("orders_mon_v2.csv"))

    copy, original = entry("RX-50004"), entry("RX-50001")
    assert copy.pk != original.pk
    assert copy.customer_name == original.customer_name
    assert line_tuples("RX-50004") == line_tuples("RX-50001")
    assert list(copy.events.values_list("kind", flat=True))[0] == TimelineEvent.Kind.CREATED


def test_rows_of_one_order_form_lines(web):
    run(read("orders_mon.csv"))

    assert line_tuples("RX-50002") == [
        ("SKU-200", 2, "garden", "seller-2", Decimal("5.00")),
        ("SKU-201", 1, "garden", "seller-2", Decimal("12.50")),
    ]
    assert entry("RX-50002").customer_email == "ben@example.test"


def test_changed_line_replaces_lines_and_logs_them(web):
    run(read("orders_mon.csv"))
    data = read("orders_mon.csv").replace(b"SKU-201,1,", b"SKU-201,4,")

    report = run(data)

    assert report.updated == 1
    assert line_tuples("RX-50002")[1][:2] == ("SKU-201", 4)
    event = entry("RX-50002").events.get(kind=TimelineEvent.Kind.UPDATED)
    assert event.changes["lines"] == {
        "old": "SKU-200 x 2; SKU-201 x 1",
        "new": "SKU-200 x 2; SKU-201 x 4",
    }


def test_column_absent_from_file_keeps_stored_value(web):
    run(read("orders_mon.csv"))
    data = b"order_ref,eta\nRX-50001,2026-05-20\n"

    report = run(data)

    assert report.updated == 1
    updated = entry("RX-50001")
    assert updated.customer_name == "Anna Schmidt"
    assert updated.lines.count() == 1
    assert updated.stage == Stage.AWAITING_HANDOVER


# Errors


def test_errors_name_row_column_and_value(web):
    report = run(read("orders_bad.csv"))

    found = {(error.row, error.column, error.value) for error in report.errors}
    assert (3, "ordered_at", "04.05.2026") in found
    assert (4, "order_ref", "") in found
    assert (5, "qty", "two") in found
    assert (7, "sku", "SKU-5") in found
    assert len(report.errors) == 4


def test_duplicate_line_error_names_both_rows(web):
    report = run(read("orders_bad.csv"))

    duplicate = next(error for error in report.errors if error.column == "sku")
    assert "rows 6 and 7" in duplicate.message


def test_file_with_errors_writes_nothing(web):
    run(read("orders_mon.csv"))
    before = list(BacklogEntry.objects.order_by("pk").values())
    events_before = TimelineEvent.objects.count()
    data = read("orders_mon_v2.csv") + b"RX-50005,web,,,,not-a-date,,,,,SKU-1,1,,,\n"

    report = run(data)

    assert report.errors[0].row == 7
    assert report.errors[0].column == "ordered_at"
    assert list(BacklogEntry.objects.order_by("pk").values()) == before
    assert TimelineEvent.objects.count() == events_before


def test_rows_of_one_order_must_agree(web):
    data = b"order_ref,customer_name,sku\nRX-1,Anna,SKU-1\nRX-1,Anne,SKU-2\n"

    report = run(data)

    assert report.errors[0].row == 3
    assert report.errors[0].column == "customer_name"
    assert "row 2" in report.errors[0].message


def test_unknown_channel_is_an_error(web):
    data = b"order_ref,channel\nRX-1,webshop\n"

    report = run(data)

    assert (report.errors[0].row, report.errors[0].column, report.errors[0].value) == (
        2,
        "channel",
        "webshop",
    )
    assert "web" in report.errors[0].message


def test_unknown_channel_is_the_only_error(web, store):
    data = b"order_ref,channel,sku\nRX-1,web,SKU-1\nRX-2,fax,SKU-2\nRX-3,store,SKU-3\n"

    report = run(data, channel="")

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (3, "channel", "fax")
    ]
    assert "Unknown channel code" in report.errors[0].message


def test_conflicting_channel_is_the_only_error(web, store):
    data = b"order_ref,channel,sku\nRX-1,web,SKU-1\nRX-1,store,SKU-2\n"

    report = run(data, channel="")

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (3, "channel", "store")
    ]
    assert "row 2" in report.errors[0].message


def test_errors_sorted_by_row_then_column(web, store):
    data = (
        b"order_ref,channel,customer_name,sku,qty\n"
        b"RX-1,web,Anna,SKU-1,1\n"
        b"RX-1,store,Anne,SKU-2,1\n"
        b"RX-2,web,Ben,SKU-3,two\n"
    )

    report = run(data, channel="")

    assert [(error.row, error.column) for error in report.errors] == [
        (3, "channel"),
        (3, "customer_name"),
        (4, "qty"),
    ]


def test_error_list_keeps_lowest_rows_when_full(web, store):
    bad_rows = 600
    lines = ["order_ref,channel,sku,qty", "RX-1,web,SKU-1,1", "RX-1,store,SKU-2,1"]
    lines += [f"RX-{number},web,SKU-{number},two" for number in range(2, 2 + bad_rows)]
    data = ("\n".join(lines) + "\n").encode()

    report = run(data, channel="")

    assert len(report.errors) == MAX_REPORTED_ERRORS
    assert report.error_count == bad_rows + 1
    assert (report.errors[0].row, report.errors[0].column) == (3, "channel")
    assert [error.row for error in report.errors[1:4]] == [4, 5, 6]


def test_missing_channel_without_default_is_an_error(web):
    report = run(b"order_ref,sku\nRX-1,SKU-1\n", channel="")

    assert report.errors[0].column == "channel"
    assert BacklogEntry.objects.count() == 0


def test_missing_order_ref_column_is_an_error(web):
    report = run(b"ref,sku\nRX-1,SKU-1\n")

    assert report.errors[0].column == "order_ref"
    assert "missing" in report.errors[0].message


def test_line_value_without_sku_is_an_error(web):
    report = run(b"order_ref,sku,qty\nRX-1,,2\n")

    assert (report.errors[0].row, report.errors[0].column) == (2, "qty")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("qty", "0"),
        ("qty", "-1"),
        ("qty", "1.5"),
        ("unit_price", "abc"),
        ("unit_price", "1.234"),
        ("items_unavailable", "maybe"),
        ("stage", "lost"),
        ("status", "done"),
        ("customer_email", "no-at-sign"),
    ],
)
def test_invalid_cell_is_an_error(web, column, value):
    data = f"order_ref,sku,{column}\nRX-1,SKU-1,{value}\n".encode()

    report = run(data)

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (2, column, value)
    ]


# Dates


def test_naive_iso_time_is_read_in_site_zone(web, settings):
    settings.TIME_ZONE = "Europe/Berlin"

    run(b"order_ref,ordered_at,approved_at\nRX-1,2026-05-04T09:15,2026-05-04T09:15+00:00\n")

    stored = entry("RX-1")
    assert stored.ordered_at == datetime(2026, 5, 4, 7, 15, tzinfo=UTC)
    assert stored.approved_at == datetime(2026, 5, 4, 9, 15, tzinfo=UTC)


def test_declared_date_format_applies_to_whole_file(web):
    data = b"order_ref,ordered_at\nRX-1,04.05.2026 09:15\nRX-2,2026-05-04T09:15\n"

    report = run(data, date_format="%d.%m.%Y %H:%M")

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (3, "ordered_at", "2026-05-04T09:15")
    ]
    assert "%d.%m.%Y %H:%M" in report.errors[0].message


def test_declared_date_format_parses_dates(web):
    report = run(b"order_ref,ordered_at\nRX-1,04.05.2026 09:15\n", date_format="%d.%m.%Y %H:%M")

    assert report.errors == []
    assert entry("RX-1").ordered_at == datetime(2026, 5, 4, 7, 15, tzinfo=UTC)


# Stage, status and the formula guard


def test_stage_derived_from_timestamps(web):
    data = (
        b"order_ref,ordered_at,approved_at,handed_over_at,delivered_at\n"
        b"RX-1,2026-05-04T09:00,,,\n"
        b"RX-2,2026-05-04T09:00,2026-05-04T10:00,,\n"
        b"RX-3,2026-05-04T09:00,2026-05-04T10:00,2026-05-05T10:00,\n"
        b"RX-4,2026-05-04T09:00,2026-05-04T10:00,2026-05-05T10:00,2026-05-06T10:00\n"
    )

    run(data)

    stages = dict(BacklogEntry.objects.values_list("external_ref", "stage"))
    assert stages == {
        "RX-1": Stage.AWAITING_APPROVAL,
        "RX-2": Stage.AWAITING_HANDOVER,
        "RX-3": Stage.IN_TRANSIT,
        "RX-4": Stage.DELIVERED,
    }
    delivered = entry("RX-4")
    assert delivered.status == Status.CLOSED
    assert delivered.closed_at == delivered.delivered_at


def test_stated_stage_and_status_are_kept(web):
    run(b"order_ref,stage,status\nRX-1,awaiting_allocation,On hold\n")

    stored = entry("RX-1")
    assert (stored.stage, stored.status) == (Stage.AWAITING_ALLOCATION, Status.ON_HOLD)


@pytest.mark.parametrize(
    ("cell", "stored"),
    [
        ("'=SUM(A1)", "=SUM(A1)"),
        ("'+49 30 1234", "+49 30 1234"),
        ("'-5", "-5"),
        ("'@cmd", "@cmd"),
        ("''=x", "'=x"),
        ("'plain", "'plain"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_one_formula_guard_apostrophe_is_removed(web, cell, stored):
    data = f"order_ref,customer_name\n{cell},{cell}\n".encode()

    run(data)

    imported = BacklogEntry.objects.get()
    assert imported.external_ref == stored
    assert imported.customer_name == stored


def test_formula_guard_round_trips_any_number_of_times():
    for text in ("=1+2", "'=1+2", "''=1+2", "plain", "-", "\tx"):
        assert strip_formula_guard(neutralise_formula(text)) == text


# Dry run, classification and the writer


def test_dry_run_counts_and_writes_nothing(web):
    report = run(read("orders_mon.csv"), dry_run=True)

    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert len(report.preview) == 3
    assert report.preview[1]["lines"] == "SKU-200 x 2; SKU-201 x 1"
    assert BacklogEntry.objects.count() == 0
    assert ImportRun.objects.count() == 0


def test_import_records_run_with_counts(web, lead):
    import_generic(
        read("orders_mon.csv"),
        options=GenericOptions(channel="web", file_name="orders_mon.csv"),
        actor=lead,
        now=NOW,
    )

    import_run = ImportRun.objects.get()
    assert (import_run.created, import_run.updated, import_run.unchanged) == (3, 0, 0)
    assert import_run.actor == lead
    assert import_run.errors == []
    assert entry("RX-50001").events.get(kind=TimelineEvent.Kind.CREATED).actor == lead


def test_import_classifies_open_entries(web):
    run(read("orders_mon.csv"))

    late_handover = entry("RX-50001")
    assert late_handover.classified_at == NOW
    assert "handover_late" in [reason["signal"] for reason in late_handover.classification_reasons]


def test_entries_upsert_replaces_lines_of_changed_entry(web):
    row = EntryRow(external_ref="API-1", values={"channel_id": web.pk}, lines=[LineRow("SKU-1", 2)])
    entries_upsert([row], source="api", now=NOW)

    counts = entries_upsert(
        [EntryRow(external_ref="API-1", values={}, lines=[LineRow("SKU-9", 1)])],
        source="api",
        now=NOW,
    )

    assert (counts.created, counts.updated) == (0, 1)
    assert line_tuples("API-1", "api") == [("SKU-9", 1, "", "", None)]


def test_entries_upsert_without_lines_keeps_them(web):
    entries_upsert(
        [EntryRow("API-1", {"channel_id": web.pk}, [LineRow("SKU-1")])], source="api", now=NOW
    )

    counts = entries_upsert(
        [EntryRow("API-1", {"customer_name": "Dana"}, None)], source="api", now=NOW
    )

    assert counts.updated == 1
    assert line_tuples("API-1", "api") == [("SKU-1", 1, "", "", None)]


# The command


def test_command_imports_generic_file(web):
    from io import StringIO

    out = StringIO()
    call_command(
        "import_orders",
        str(DATA / "orders_mon.csv"),
        "--format",
        "generic",
        "--channel",
        "web",
        stdout=out,
    )

    assert "3 created, 0 updated, 0 unchanged." in out.getvalue()
    assert "Timings:" in out.getvalue()
    assert BacklogEntry.objects.count() == 3


def test_command_dry_run_writes_nothing(web):
    from io import StringIO

    out = StringIO()
    call_command(
        "import_orders",
        str(DATA / "orders_mon.csv"),
        "--format",
        "generic",
        "--channel",
        "web",
        "--dry-run",
        stdout=out,
    )

    assert "dry run" in out.getvalue()
    assert "  2 | RX-50001 | web | derived | - | SKU-100 x 1" in out.getvalue()
    assert BacklogEntry.objects.count() == 0


def test_command_fails_on_errors(web):
    from io import StringIO

    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "import_orders",
            str(DATA / "orders_bad.csv"),
            "--format",
            "generic",
            "--channel",
            "web",
            stderr=err,
        )

    assert "row 5, column qty" in err.getvalue()


def test_reimport_clears_emptied_cells_and_flags(web):
    run(
        b"order_ref,approved_at,items_unavailable,region\nRX-1,2026-05-04T10:00,yes,BE\nRX-2,2026-05-04T11:00,1,HH\n"
    )

    report = run(b"order_ref,approved_at,items_unavailable,region\nRX-1,,no,\nRX-2,,0,\n")

    assert report.updated == 2
    for ref in ("RX-1", "RX-2"):
        cleared = entry(ref)
        assert (cleared.approved_at, cleared.items_unavailable, cleared.region) == (None, False, "")
        assert cleared.stage == Stage.AWAITING_APPROVAL


def test_unclosed_quote_is_an_error(web):
    report = run(b'order_ref,note\nRX-1,"never closed\nRX-2,fine\n')

    assert report.errors[0].row == 2
    assert "malformed" in report.errors[0].message
    assert BacklogEntry.objects.count() == 0


def test_nul_character_is_an_error(web):
    report = run(b"order_ref,note\nRX-1,ok\nRX-2,a\x00b\n")

    assert report.errors[0].row == 3
    assert "NUL" in report.errors[0].message


def test_date_out_of_range_is_an_error(web):
    report = run(b"order_ref,ordered_at\nRX-1,9999-12-31T23:59-14:00\n")

    assert [(error.row, error.column) for error in report.errors] == [(2, "ordered_at")]
