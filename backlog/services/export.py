"""Export backlog entries as CSV, streamed in chunks, with spreadsheet formulas neutralised.

The columns are the task format of the triage desk (reference, reason, owner, due time)
plus what identifies the order. The file is UTF-8 with a byte order mark, so Excel shows
accented names correctly, and the generic import reads it back: external_ref maps to
order_ref and the other columns it does not know are ignored.
"""

import csv
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

from django.db.models import QuerySet

from backlog.filters import EntryFilter
from backlog.models import BacklogEntry

from .imports.reading import neutralise_formula

EXPORT_COLUMNS = (
    "reference",
    "source",
    "external_ref",
    "channel",
    "stage",
    "backlog_type",
    "reasons",
    "owner",
    "due_at",
    "detected_at",
)
# Rows fetched per database round trip, so memory stays flat whatever the number of entries.
EXPORT_CHUNK_SIZE = 2000
UTF8_BOM = "\ufeff"


class ExportFilterError(ValueError):
    """Raised when a filter parameter of the export is invalid, such as an unknown channel."""


def export_queryset(params: Mapping[str, str] | None, *, now: datetime) -> QuerySet:
    """Return the open entries the dashboard filters select, oldest first.

    The parameters are the dashboard's query parameters: channel, type, stage, owner,
    unowned and overdue. Without any, every open entry is exported.
    """
    entry_filter = EntryFilter(params or None, now=now)
    if entry_filter.is_bound and not entry_filter.is_valid():
        problems = " ".join(
            f"{name}={entry_filter.data.get(name, '')!r}: {' '.join(messages)}"
            for name, messages in entry_filter.errors.items()
        )
        raise ExportFilterError(f"Invalid export filter. {problems}")
    return entry_filter.qs.select_related("channel", "owner")


def export_csv_lines(queryset: QuerySet) -> Iterator[str]:
    """Yield the CSV file line by line: a byte order mark and header, then one line per entry."""
    writer = csv.writer(_LineBuffer())
    yield UTF8_BOM + writer.writerow(EXPORT_COLUMNS)
    for entry in queryset.iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield writer.writerow([neutralise_formula(cell) for cell in entry_cells(entry)])


def entry_cells(entry: BacklogEntry) -> list[str]:
    reasons = "; ".join(reason.get("label", "") for reason in entry.classification_reasons or [])
    return [
        entry.reference,
        entry.source,
        entry.external_ref,
        entry.channel.code,
        entry.stage,
        entry.backlog_type,
        reasons,
        entry.owner.get_username() if entry.owner else "",
        _utc_text(entry.due_at),
        _utc_text(entry.detected_at),
    ]


def _utc_text(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


class _LineBuffer:
    """A file-like object whose write returns the line, so csv.writer can feed a stream."""

    def write(self, text: str) -> str:
        return text
