"""Event-log import: lifecycle mapping, waiting stretches as pauses, idempotence, errors, real log."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from backlog.models import BacklogEntry, Channel, ImportRun, Stage, Status, TimelineEvent
from backlog.services.imports.eventlog import (
    CLOSED,
    CREATED,
    RESOLVED,
    TAKEN_IN_CHARGE,
    WAITING,
    Event,
    EventLogOptions,
    case_history,
    import_eventlog,
    mapping_from_json,
)
from triage.models import EntryPause

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data" / "eventlog"
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run_import(name: str, **options):
    return import_eventlog(
        (DATA / name).read_bytes(), options=EventLogOptions(file_name=name, **options), now=NOW
    )


def entry(ref: str) -> BacklogEntry:
    return BacklogEntry.objects.get(source="helpdesk", external_ref=ref)


def pauses_of(ref: str) -> list[tuple]:
    return list(EntryPause.objects.filter(entry=entry(ref)).values_list("started_at", "ended_at"))


@pytest.fixture
def helpdesk_log(real_data) -> Path:
    path = real_data / "support-tickets" / "helpdesk-italian-company" / "helpdesk.csv"
    if not path.is_file():
        pytest.skip(f"The help-desk event log is missing (looked in {path}).")
    return path


def test_import_creates_one_entry_per_case():
    report = run_import("tickets.csv")

    assert report.ok, report.errors
    assert report.created == 4
    assert BacklogEntry.objects.filter(source="helpdesk").count() == 4
    channel = Channel.objects.get(code="support-desk")
    assert channel.name == "Support desk"
    assert set(BacklogEntry.objects.values_list("channel_id", flat=True)) == {channel.pk}
    assert set(BacklogEntry.objects.values_list("stage", flat=True)) == {Stage.AWAITING_HANDOVER}
    assert ImportRun.objects.get().file_format == "eventlog"


def test_import_reads_times_in_rome():
    run_import("tickets.csv")

    # 14:50:17 in Rome is 12:50:17 UTC while summer time lasts.
    assert entry("Case 1").detected_at == utc(2012, 10, 9, 12, 50, 17)


def test_resolved_then_closed_closes_at_resolution():
    run_import("tickets.csv")

    first = entry("Case 1")
    assert first.status == Status.CLOSED
    assert first.closed_at == utc(2012, 10, 25, 9, 54, 26)


def test_last_resolution_leaves_entry_resolved():
    run_import("tickets.csv")

    third = entry("Case 3")
    assert third.status == Status.RESOLVED
    assert third.closed_at == utc(2012, 10, 16, 14, 0)


def test_waiting_stretches_become_pauses():
    run_import("tickets.csv")

    # Two waits in a row are one stretch, ended by the next take in charge.
    assert pauses_of("Case 1") == [(utc(2012, 10, 10, 7, 0), utc(2012, 10, 12, 13, 2, 56))]
    # Work mapped to no lifecycle event ends a stretch too.
    assert pauses_of("Case 4") == [(utc(2012, 10, 14, 8, 0), utc(2012, 10, 15, 8, 0))]
    assert entry("Case 4").status == Status.OPEN
    assert pauses_of("Case 3") == []


def test_last_wait_leaves_entry_on_hold_with_open_pause():
    run_import("tickets.csv")

    second = entry("Case 2")
    assert second.status == Status.ON_HOLD
    assert second.closed_at is None
    assert pauses_of("Case 2") == [(utc(2012, 10, 15, 8, 0), None)]


def test_reimport_changes_nothing():
    run_import("tickets.csv")
    pauses = list(EntryPause.objects.order_by("pk").values_list("pk", "entry_id", "started_at", "ended_at"))
    events = TimelineEvent.objects.count()

    report = run_import("tickets.csv")

    assert (report.created, report.updated, report.unchanged) == (0, 0, 4)
    assert list(EntryPause.objects.order_by("pk").values_list("pk", "entry_id", "started_at", "ended_at")) == pauses
    assert TimelineEvent.objects.count() == events


def test_reimport_replaces_changed_pauses():
    run_import("tickets.csv")
    EntryPause.objects.filter(entry=entry("Case 1")).update(ended_at=utc(2012, 10, 11, 0, 0))

    run_import("tickets.csv")

    assert pauses_of("Case 1") == [(utc(2012, 10, 10, 7, 0), utc(2012, 10, 12, 13, 2, 56))]


def test_dry_run_writes_nothing():
    report = import_eventlog(
        (DATA / "tickets.csv").read_bytes(), options=EventLogOptions(), now=NOW, dry_run=True
    )

    assert report.ok
    assert report.created == 4
    assert not BacklogEntry.objects.exists()
    assert not Channel.objects.filter(code="support-desk").exists()
    assert not ImportRun.objects.exists()


def test_bad_date_names_row_column_value():
    report = run_import("bad_date.csv")

    assert not report.ok
    error = report.errors[0]
    assert error.row == 3
    assert error.column == "Complete Timestamp"
    assert error.value == "09.10.2012 14:51"
    assert "row 3, column Complete Timestamp" in str(error)
    assert not BacklogEntry.objects.exists()


def test_file_with_one_error_writes_nothing(tmp_path):
    text = (DATA / "tickets.csv").read_text() + "Case 9,Unplanned step,Value 1,2012/10/20 10:00:00.000,V,1,V,Value 1\n"

    report = import_eventlog(text.encode(), options=EventLogOptions(), now=NOW)

    assert [(error.row, error.column, error.value) for error in report.errors] == [
        (18, "Activity", "Unplanned step")
    ]
    assert not BacklogEntry.objects.exists()
    assert not EntryPause.objects.exists()


def test_mapping_file_and_xes_columns():
    mapping = mapping_from_json((DATA / "xes_mapping.json").read_text())

    report = run_import("xes_names.csv", source="tracker", mapping=mapping)

    assert report.ok, report.errors
    ticket = BacklogEntry.objects.get(source="tracker", external_ref="T-1")
    assert ticket.status == Status.CLOSED
    assert ticket.closed_at == utc(2024, 3, 6, 9, 0)
    assert list(ticket.pauses.values_list("started_at", "ended_at")) == [(utc(2024, 3, 4, 9, 0), utc(2024, 3, 5, 9, 0))]


def test_mapping_rejects_unknown_event():
    with pytest.raises(ValueError, match="Invalid event 'parked'"):
        mapping_from_json('{"activities": {"Wait": "parked"}}')


def test_case_history_reopens_after_resolution():
    events = [
        Event(2, utc(2024, 1, 1, 9), "new", CREATED),
        Event(3, utc(2024, 1, 2, 9), "fix", RESOLVED),
        Event(4, utc(2024, 1, 3, 9), "again", TAKEN_IN_CHARGE),
        Event(5, utc(2024, 1, 4, 9), "hold", WAITING),
        Event(6, utc(2024, 1, 5, 9), "fix", RESOLVED),
        Event(7, utc(2024, 1, 6, 9), "close", CLOSED),
    ]

    history = case_history(events)

    assert history.status == Status.CLOSED
    assert history.closed_at == utc(2024, 1, 5, 9)
    assert history.pauses == ((utc(2024, 1, 4, 9), utc(2024, 1, 5, 9)),)


def test_command_reports_errors_and_fails():
    with pytest.raises(CommandError, match="1 error: nothing was imported"):
        call_command("import_eventlog", str(DATA / "bad_date.csv"))


def test_command_custom_date_format(tmp_path):
    path = tmp_path / "dotted.csv"
    path.write_text("Case ID,Activity,Complete Timestamp\nC1,Insert ticket,09.10.2012 14:51\nC1,Closed,10.10.2012 09:00\n")

    call_command("import_eventlog", str(path), "--date-format", "%d.%m.%Y %H:%M", "--channel", "tickets")

    ticket = BacklogEntry.objects.get(external_ref="C1")
    assert ticket.channel.code == "tickets"
    assert ticket.status == Status.CLOSED


def test_real_helpdesk_log_imports_every_case(helpdesk_log):
    call_command("import_eventlog", str(helpdesk_log))

    assert BacklogEntry.objects.filter(source="helpdesk").count() == 4580
    assert EntryPause.objects.filter(entry__source="helpdesk").exists()
    assert BacklogEntry.objects.filter(source="helpdesk", status=Status.ON_HOLD).count() == EntryPause.objects.filter(
        entry__source="helpdesk", ended_at__isnull=True
    ).count()
