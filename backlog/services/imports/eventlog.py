"""Import support tickets from an event log: one row per event, in the process-mining CSV shape.

Each row names a case (the ticket), an activity and the time it was completed; any other
column is an attribute and is ignored. A mapping turns activities into lifecycle events:

- created and taken_in_charge open the ticket (and reopen it after a resolution),
- waiting puts it on hold; the waiting stretch ends at the next event of any other
  activity and becomes an EntryPause, so escalation clocks stand still during it,
- resolved and closed close it; closed-at is the first of them after the last reopening,
  because the customer's problem ended there even when the formal close came days later,
- an activity mapped to null (work such as "Create SW anomaly") changes no status but
  ends a waiting stretch.

Each case becomes one entry, keyed by (source, case id), detected at its first event, in
stage awaiting hand-over: the desk owes the customer an answer, and the order stages have
no closer match for a ticket. The status follows the last lifecycle event: open, on hold,
resolved or closed. The log is the record of the ticket, so a re-import replaces the
stored status, closed-at and pauses of its entries with what the log states.
"""

import csv
import io
import json
import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction

from backlog.models import BacklogEntry, Channel, Stage, Status
from backlog.services.bulk import chunks

from .report import PREVIEW_ROWS, ImportReport, RowError
from .rows import EntryRow, preview_of
from .runs import import_run_record
from .writer import entries_upsert, upsert_plan

logger = logging.getLogger(__name__)

FILE_FORMAT = "eventlog"
DEFAULT_SOURCE = "helpdesk"
DEFAULT_CHANNEL = "support-desk"
DEFAULT_CHANNEL_NAME = "Support desk"
# The help-desk log of the Italian software company records local times of Italy.
DEFAULT_SOURCE_TZ = "Europe/Rome"
# The help-desk log writes times as 2012/10/09 14:50:17.000.
HELPDESK_DATE_FORMAT = "%Y/%m/%d %H:%M:%S.%f"
STAGE = Stage.AWAITING_HANDOVER.value

CREATED = "created"
TAKEN_IN_CHARGE = "taken_in_charge"
WAITING = "waiting"
RESOLVED = "resolved"
CLOSED = "closed"
LIFECYCLE_EVENTS = (CREATED, TAKEN_IN_CHARGE, WAITING, RESOLVED, CLOSED)

# Column names that common event-log exports use, in the order they are tried: the help-desk
# log's own, then the XES attribute names that PM4Py and ProM write, then plain ones.
COLUMN_CANDIDATES = {
    "case": ("Case ID", "case:concept:name", "case_id", "case"),
    "activity": ("Activity", "concept:name", "activity"),
    "timestamp": ("Complete Timestamp", "time:timestamp", "timestamp"),
}

# Every activity of the help-desk log, as counted in its 21,348 events. The rare upper-case
# ones (VERIFIED, RESOLVED, INVALID, DUPLICATE) follow "Create SW anomaly" and are statuses of
# the linked software anomaly, not of the ticket, so they change nothing, like the other work steps.
HELPDESK_ACTIVITIES: dict[str, str | None] = {
    "Assign seriousness": CREATED,
    "Insert ticket": CREATED,
    "Take in charge ticket": TAKEN_IN_CHARGE,
    "Wait": WAITING,
    "Resolve ticket": RESOLVED,
    "Closed": CLOSED,
    "Require upgrade": None,
    "Create SW anomaly": None,
    "Resolve SW anomaly": None,
    "Schedule intervention": None,
    "VERIFIED": None,
    "RESOLVED": None,
    "INVALID": None,
    "DUPLICATE": None,
}

Pause = tuple[datetime, datetime | None]


@dataclass(frozen=True)
class EventLogMapping:
    """The lifecycle event of each activity (None for none), and optionally the column names."""

    activities: dict[str, str | None]
    # {"case": ..., "activity": ..., "timestamp": ...}; a missing key is found among COLUMN_CANDIDATES.
    columns: dict[str, str] = field(default_factory=dict)


HELPDESK_MAPPING = EventLogMapping(activities=HELPDESK_ACTIVITIES)


def mapping_from_json(text: str) -> EventLogMapping:
    """Parse a mapping file: {"activities": {name: event or null}, "columns": {...}}.

    Raises ValueError naming the invalid key or value.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"The mapping is not valid JSON: {error}.") from error
    if not isinstance(data, dict) or not isinstance(data.get("activities"), dict):
        raise ValueError('The mapping must be an object with an "activities" object.')
    allowed = ", ".join(LIFECYCLE_EVENTS)
    for activity, event in data["activities"].items():
        if event is not None and event not in LIFECYCLE_EVENTS:
            raise ValueError(f"Invalid event {event!r} for activity {activity!r}: use one of {allowed}, or null.")
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or set(columns) - set(COLUMN_CANDIDATES):
        raise ValueError(f'Invalid "columns": use an object with the keys {", ".join(COLUMN_CANDIDATES)}.')
    return EventLogMapping(activities=dict(data["activities"]), columns=dict(columns))


@dataclass(frozen=True)
class EventLogOptions:
    source: str = DEFAULT_SOURCE
    channel: str = DEFAULT_CHANNEL
    mapping: EventLogMapping = HELPDESK_MAPPING
    # strptime format of the timestamps; empty accepts the help-desk format and ISO 8601.
    date_format: str = ""
    # Zone of timestamps without an offset.
    source_tz: str = DEFAULT_SOURCE_TZ
    file_name: str = ""


@dataclass(frozen=True)
class Event:
    row: int
    at: datetime
    activity: str
    lifecycle: str | None


@dataclass(frozen=True)
class CaseHistory:
    """The ticket as one case's events record it: detection, final status and waiting stretches."""

    detected_at: datetime
    status: str
    closed_at: datetime | None
    pauses: tuple[Pause, ...]


def case_history(events: Sequence[Event]) -> CaseHistory:
    """Apply the lifecycle rules of the module docstring to the events of one case, in time order."""
    ordered = sorted(events, key=lambda event: (event.at, event.row))
    status = Status.OPEN.value
    closed_at: datetime | None = None
    pauses: list[Pause] = []
    waiting_since: datetime | None = None

    for event in ordered:
        if event.lifecycle == WAITING:
            waiting_since = waiting_since or event.at
            status, closed_at = Status.ON_HOLD.value, None
            continue

        if waiting_since is not None:
            # A zero-length stretch stops no clock, so it is not stored.
            if event.at > waiting_since:
                pauses.append((waiting_since, event.at))
            waiting_since = None
            if status == Status.ON_HOLD:
                status = Status.OPEN.value

        if event.lifecycle in (CREATED, TAKEN_IN_CHARGE):
            status, closed_at = Status.OPEN.value, None
        elif event.lifecycle in (RESOLVED, CLOSED):
            if closed_at is None:
                closed_at = event.at
            # A close after a resolution keeps the resolution's time; a resolution after a
            # close leaves the ticket closed.
            if event.lifecycle == CLOSED or status == Status.CLOSED:
                status = Status.CLOSED.value
            else:
                status = Status.RESOLVED.value

    if waiting_since is not None:
        pauses.append((waiting_since, None))
    return CaseHistory(detected_at=ordered[0].at, status=status, closed_at=closed_at, pauses=tuple(pauses))


@dataclass
class _ParsedLog:
    cases: dict[str, list[Event]] = field(default_factory=dict)
    case_rows: dict[str, int] = field(default_factory=dict)
    event_count: int = 0


def import_eventlog(
    data: bytes, *, options: EventLogOptions, actor=None, now: datetime, dry_run: bool = False
) -> ImportReport:
    """Import one event-log file: one entry and its pauses per case, in one transaction.

    A file with any error writes nothing. A dry run reports the counts and writes nothing.
    A real run creates the channel if it is missing and records an ImportRun.
    """
    report = ImportReport(dry_run=dry_run, encoding="utf-8", delimiter=",")
    started = time.monotonic()
    parsed = _read(data, options=options, report=report)
    report.timings["read"] = round(time.monotonic() - started, 3)

    if report.ok:
        report.notes.append(f"{parsed.event_count} events of {len(parsed.cases)} cases read.")
        _write(parsed, options=options, report=report, actor=actor, now=now, dry_run=dry_run)

    if not dry_run:
        import_run_record(
            report,
            actor=actor,
            source=options.source,
            file_format=FILE_FORMAT,
            file_name=options.file_name,
            started_at=now,
        )
    logger.info("Event-log import of %s into source %s: %s", options.file_name, options.source, report.summary())
    return report


def _read(data: bytes, *, options: EventLogOptions, report: ImportReport) -> _ParsedLog:
    parsed = _ParsedLog()
    try:
        zone = ZoneInfo(options.source_tz)
    except (ZoneInfoNotFoundError, ValueError):
        report.add_error(
            RowError(None, "", options.source_tz, "Unknown time zone: use an IANA name such as Europe/Rome.")
        )
        return parsed
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        report.add_error(RowError(None, "", "", f"The file is not UTF-8: {error}."))
        return parsed

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header:
        report.add_error(RowError(None, "", "", "The file is empty."))
        return parsed
    positions = _column_positions(header, options.mapping, report)
    if positions is None:
        return parsed
    used = set(positions.values())
    report.ignored_columns = [name for position, name in enumerate(header) if position not in used]

    case_column, activity_column, time_column = (header[positions[key]] for key in ("case", "activity", "timestamp"))
    activities = options.mapping.activities
    try:
        for number, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) < len(header):
                report.add_error(
                    RowError(number, "", "", f"The row has {len(record)} cells; the header has {len(header)}.")
                )
                continue
            case_id = record[positions["case"]].strip()
            activity = record[positions["activity"]].strip()
            moment_text = record[positions["timestamp"]].strip()
            if not case_id:
                report.add_error(RowError(number, case_column, "", "The case id is missing."))
            if activity not in activities:
                report.add_error(
                    RowError(
                        number,
                        activity_column,
                        activity,
                        "Unknown activity: add it to the mapping file, mapped to a lifecycle event or null.",
                    )
                )
            moment = _parse_time(moment_text, options.date_format, zone)
            if moment is None:
                expected = options.date_format or f"{HELPDESK_DATE_FORMAT} or ISO 8601"
                report.add_error(
                    RowError(number, time_column, moment_text, f"Invalid time: expected the format {expected}.")
                )
            if not report.ok:
                continue
            assert moment is not None
            if case_id not in parsed.cases:
                parsed.cases[case_id] = []
                parsed.case_rows[case_id] = number
            parsed.cases[case_id].append(Event(number, moment, activity, activities[activity]))
            parsed.event_count += 1
    except csv.Error as error:
        report.add_error(RowError(None, "", "", f"The CSV is malformed: {error}."))
    if report.ok and not parsed.cases:
        report.add_error(RowError(None, "", "", "The file has no events."))
    return parsed


def _column_positions(
    header: list[str], mapping: EventLogMapping, report: ImportReport
) -> dict[str, int] | None:
    names = [name.strip() for name in header]
    positions: dict[str, int] = {}
    for key, candidates in COLUMN_CANDIDATES.items():
        tried = (mapping.columns[key],) if key in mapping.columns else candidates
        found = next((name for name in tried if name in names), None)
        if found is None:
            report.add_error(
                RowError(1, " or ".join(tried), "", f"The {key} column is missing from the header.")
            )
            continue
        if names.count(found) > 1:
            report.add_error(RowError(1, found, "", f"The {key} column appears more than once in the header."))
            continue
        positions[key] = names.index(found)
    return positions if report.ok else None


def _parse_time(text: str, date_format: str, zone: ZoneInfo) -> datetime | None:
    if not text:
        return None
    formats = [date_format] if date_format else [HELPDESK_DATE_FORMAT, ""]
    for pattern in formats:
        try:
            value = datetime.strptime(text, pattern) if pattern else datetime.fromisoformat(text)
        except ValueError:
            continue
        if value.tzinfo is None:
            value = value.replace(tzinfo=zone)
        return value.astimezone(UTC)
    return None


def _write(
    parsed: _ParsedLog,
    *,
    options: EventLogOptions,
    report: ImportReport,
    actor,
    now: datetime,
    dry_run: bool,
) -> None:
    histories = {case_id: case_history(events) for case_id, events in parsed.cases.items()}
    started = time.monotonic()
    try:
        with transaction.atomic():
            channel = Channel.objects.filter(code=options.channel).first()
            if channel is None and not dry_run:
                name = DEFAULT_CHANNEL_NAME if options.channel == DEFAULT_CHANNEL else options.channel
                channel = Channel.objects.create(code=options.channel, name=name)
            if channel is None:
                report.notes.append(f"The {options.channel} channel does not exist yet; the import will create it.")
            # A dry run may lack the channel. Its id is then 0, which is harmless because nothing is written.
            channel_id = channel.pk if channel else 0
            rows = [
                _entry_row(case_id, history, channel_id=channel_id, source_row=parsed.case_rows[case_id])
                for case_id, history in histories.items()
            ]
            report.preview = [preview_of(row, channel_codes={channel_id: options.channel}) for row in rows[:PREVIEW_ROWS]]

            if dry_run:
                counts = upsert_plan(rows, source=options.source, now=now).counts()
                stale, pause_count = _pause_changes(histories, source=options.source)
                report.notes.append(f"Pauses of {len(stale)} stored entries would be replaced.")
            else:
                counts = entries_upsert(
                    rows,
                    source=options.source,
                    actor=actor,
                    now=now,
                    reason=f"Imported from the event log {options.file_name or 'file'}.",
                )
                stale, pause_count = _pauses_replace(histories, source=options.source)
                _clocks_forget([entry.pk for entry in counts.touched] + stale)
                report.notes.append(f"Pauses replaced for {len(stale)} entries: {pause_count} waiting stretches written.")
    except IntegrityError:
        logger.warning("Event-log import into source %s collided with a concurrent import.", options.source)
        report.add_error(
            RowError(None, "", "", "Another import created some of these entries at the same time. Run it again.")
        )
        return

    report.created, report.updated, report.unchanged = counts.created, counts.updated, counts.unchanged
    report.timings.update(counts.timings)
    report.timings["compare" if dry_run else "write"] = round(time.monotonic() - started, 3)


def _entry_row(case_id: str, history: CaseHistory, *, channel_id: int, source_row: int) -> EntryRow:
    # Closed-at is always stated, so a re-import of a reopened ticket clears it.
    return EntryRow(
        external_ref=case_id,
        values={
            "channel_id": channel_id,
            "ordered_at": history.detected_at,
            "detected_at": history.detected_at,
            "stage": STAGE,
            "status": history.status,
            "closed_at": history.closed_at,
        },
        source_rows=[source_row],
    )


def _pause_changes(histories: dict[str, CaseHistory], *, source: str) -> tuple[list[int], int]:
    """Return the ids of stored entries whose pauses differ from the log, and how many pauses the log states."""
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.models import EntryPause

    entry_ids: dict[str, int] = {}
    stored: dict[int, set[Pause]] = defaultdict(set)
    for chunk in chunks(list(histories)):
        entry_ids.update(
            BacklogEntry.objects.filter(source=source, external_ref__in=chunk).values_list("external_ref", "pk")
        )
    for chunk in chunks(list(entry_ids.values())):
        for entry_id, started, ended in EntryPause.objects.filter(entry_id__in=chunk).values_list(
            "entry_id", "started_at", "ended_at"
        ):
            stored[entry_id].add((started, ended))

    stale = [
        entry_id
        for case_id, entry_id in entry_ids.items()
        if set(histories[case_id].pauses) != stored.get(entry_id, set())
    ]
    return stale, sum(len(history.pauses) for history in histories.values())


def _pauses_replace(histories: dict[str, CaseHistory], *, source: str) -> tuple[list[int], int]:
    """Replace the pauses of entries whose stored pauses differ from the log; return their ids and the count written."""
    from triage.models import EntryPause

    stale, _ = _pause_changes(histories, source=source)
    if not stale:
        return [], 0
    refs: dict[int, str] = {}
    for chunk in chunks(stale):
        refs.update(BacklogEntry.objects.filter(pk__in=chunk).values_list("pk", "external_ref"))
    for chunk in chunks(stale):
        EntryPause.objects.filter(entry_id__in=chunk).delete()
    pauses = [
        EntryPause(entry_id=entry_id, started_at=started, ended_at=ended)
        for entry_id in stale
        for started, ended in histories[refs[entry_id]].pauses
    ]
    EntryPause.objects.bulk_create(pauses, batch_size=1000)
    return stale, len(pauses)


def _clocks_forget(entry_ids: list[int]) -> None:
    # Local import: the triage app builds on backlog, not the other way round.
    from triage.services.clock import clocks_forget

    for chunk in chunks(sorted(set(entry_ids))):
        clocks_forget(chunk)
