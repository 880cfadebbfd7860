"""Import the documented generic CSV: one row per order line, rows sharing order_ref form one entry.

The format is described in docs/import-formats.md. Validation covers the whole file before
anything is written, and a file with any error writes no entry.
"""

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError

from backlog.models import Channel, Stage, Status

from .reading import (
    DateReader,
    FileProblem,
    choose_delimiter,
    decode,
    delimiter_name,
    normalise_header,
    read_records,
    strip_formula_guard,
)
from .report import MAX_REPORTED_ERRORS, PREVIEW_ROWS, ColumnMapping, ImportReport, RowError
from .rows import EntryRow, LineRow, preview_of
from .runs import import_run_record
from .writer import entries_upsert, upsert_plan

logger = logging.getLogger(__name__)

FILE_FORMAT = "generic"
DEFAULT_SOURCE = "generic"

# Column name -> the EntryRow field it fills. Line columns fill the line, not the entry.
ENTRY_COLUMNS = {
    "channel": "channel_id",
    "customer_name": "customer_name",
    "customer_email": "customer_email",
    "region": "region",
    "ordered_at": "ordered_at",
    "approved_at": "approved_at",
    "handed_over_at": "handed_over_at",
    "delivered_at": "delivered_at",
    "handover_due_at": "handover_due_at",
    "promised_at": "promised_at",
    "stage": "stage",
    "status": "status",
    "items_unavailable": "items_unavailable",
    "note": "note",
}
LINE_COLUMNS = ("sku", "qty", "category", "seller", "unit_price")
KNOWN_COLUMNS = ("order_ref", *ENTRY_COLUMNS, *LINE_COLUMNS)
# Other spellings accepted in the header. external_ref lets a file from export_backlog be
# imported again.
COLUMN_ALIASES = {"eta": "promised_at", "external_ref": "order_ref"}
# An empty cell in these columns states nothing: the default channel applies, the stage is
# derived from the timestamps and the status is kept or derived.
EMPTY_MEANS_UNSTATED = ("channel", "stage", "status")
# Free text keeps its spaces, and every other cell is stripped of surrounding whitespace.
FREE_TEXT_COLUMNS = ("customer_name", "note")
DATE_COLUMNS = (
    "ordered_at",
    "approved_at",
    "handed_over_at",
    "delivered_at",
    "handover_due_at",
    "promised_at",
)
MAX_LENGTHS = {
    "order_ref": 100,
    "customer_name": 200,
    "customer_email": 254,
    "region": 64,
    "sku": 64,
    "category": 100,
    "seller": 64,
}
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
MAX_SOURCE_LENGTH = 40
# The largest value the quantity column of EntryLine holds on every supported database.
MAX_QUANTITY = 2_147_483_647


@dataclass(frozen=True)
class GenericOptions:
    source: str = DEFAULT_SOURCE
    # Code of the channel for rows without one. Empty means every row must name its channel.
    channel: str = ""
    encoding: str = "auto"
    delimiter: str = "auto"
    # strptime format for every date cell of the file. Empty means ISO 8601.
    date_format: str = ""
    file_name: str = ""


def import_generic(
    data: bytes,
    *,
    options: GenericOptions,
    actor=None,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Validate a generic CSV and, unless it has errors or `dry_run` is set, upsert its entries.

    A dry run reports what the import would create, update and leave unchanged, and
    writes nothing. A real run records an ImportRun, with its errors when it has any.
    """
    report = ImportReport(dry_run=dry_run)
    started = time.monotonic()
    rows = _parse(data, options=options, report=report)
    report.timings["read"] = round(time.monotonic() - started, 3)

    if report.ok:
        started = time.monotonic()
        channel_codes = dict(Channel.objects.values_list("pk", "code"))
        report.preview = [
            preview_of(row, channel_codes=channel_codes) for row in rows[:PREVIEW_ROWS]
        ]
        try:
            counts = (
                upsert_plan(rows, source=options.source, now=now).counts()
                if dry_run
                else entries_upsert(
                    rows,
                    source=options.source,
                    actor=actor,
                    now=now,
                    reason=f"Imported from {options.file_name or 'a generic CSV file'}.",
                )
            )
        except IntegrityError:
            logger.warning(
                "Generic import into source %s collided with a concurrent import.", options.source
            )
            report.add_error(
                RowError(
                    row=None,
                    column="",
                    value="",
                    message="Another import created some of these entries at the same time. Run the import again.",
                )
            )
        else:
            report.created, report.updated, report.unchanged = (
                counts.created,
                counts.updated,
                counts.unchanged,
            )
            report.timings.update(counts.timings)
        report.timings["write" if not dry_run else "compare"] = round(time.monotonic() - started, 3)

    if not dry_run:
        import_run_record(
            report,
            actor=actor,
            source=options.source,
            file_format=FILE_FORMAT,
            file_name=options.file_name,
            started_at=now,
        )
    logger.info(
        "Generic import of %s into source %s: %s",
        options.file_name or "(unnamed file)",
        options.source,
        report.summary(),
    )
    return report


def _parse(data: bytes, *, options: GenericOptions, report: ImportReport) -> list[EntryRow]:
    if not options.source or len(options.source) > MAX_SOURCE_LENGTH:
        report.add_error(
            RowError(
                None,
                "",
                options.source,
                f"The source name must have 1 to {MAX_SOURCE_LENGTH} characters.",
            )
        )
        return []
    parser = _GenericParser(options=options, report=report)
    try:
        return parser.parse(data)
    except FileProblem as exc:
        parser.row_errors.add(exc.error)
        parser.flush_row_errors()
        return []


@dataclass
class _Cell:
    """A parsed cell: the value for the entry or line, and where it came from."""

    value: Any
    row: int
    text: str


@dataclass
class _Order:
    ref: str
    rows: list[int] = field(default_factory=list)
    # Entry field -> the cells that stated it, one per row that had it.
    cells: dict[str, list[_Cell]] = field(default_factory=dict)
    # Entry columns with an invalid cell in some row of the order. That row's error already
    # names the cell, so the order reports no second error about the column.
    invalid_columns: set[str] = field(default_factory=set)
    lines: list[tuple[int, LineRow]] = field(default_factory=list)


class _RowErrors:
    """The row errors of a file, kept in order of row, then column position in the header.

    Rows are read in order, but the checks across the rows of one order run after the last
    row, so errors arrive out of order. Only the first MAX_REPORTED_ERRORS in that order are
    kept, and the others are counted, so a broken file cannot fill the memory with errors.
    """

    def __init__(self) -> None:
        self.kept: list[RowError] = []
        self.dropped = 0
        # Header text -> its position, filled once the header is read.
        self.positions: dict[str, int] = {}

    def add(self, error: RowError) -> None:
        self.kept.append(error)
        if len(self.kept) > 2 * MAX_REPORTED_ERRORS:
            self._trim()

    def sorted(self) -> tuple[list[RowError], int]:
        """Return the kept errors in order and the number of errors not kept."""
        self._trim()
        return self.kept, self.dropped

    def _trim(self) -> None:
        self.kept.sort(key=self._order_key)
        self.dropped += len(self.kept[MAX_REPORTED_ERRORS:])
        del self.kept[MAX_REPORTED_ERRORS:]

    def _order_key(self, error: RowError) -> tuple[int, int]:
        # A problem of the whole row (column "") comes before the row's cell errors.
        row = -1 if error.row is None else error.row
        return row, self.positions.get(error.column, 0)


class _GenericParser:
    def __init__(self, *, options: GenericOptions, report: ImportReport) -> None:
        self.options = options
        self.report = report
        self.dates = DateReader(date_format=options.date_format, zone=ZoneInfo(settings.TIME_ZONE))
        self.channels = dict(Channel.objects.values_list("code", "pk"))
        self.headers: dict[str, str] = {}
        # Position of a "source" column, as an exported file has; None when there is none.
        self.source_position: int | None = None
        self.row_errors = _RowErrors()

    def parse(self, data: bytes) -> list[EntryRow]:
        decoded = decode(data, self.options.encoding)
        self.report.encoding = decoded.encoding
        choice = choose_delimiter(
            decoded.text, self.options.delimiter, known_columns=[*KNOWN_COLUMNS, *COLUMN_ALIASES]
        )
        self.report.delimiter = choice.delimiter
        self.report.delimiter_detected = choice.detected
        self.report.delimiter_warning = choice.warning

        records = read_records(decoded.text, choice.delimiter)
        header = self._header(records, choice.delimiter)
        if header is None or not self.report.ok:
            return []
        self._check_default_channel()

        self.row_errors.positions = {
            mapping.header: mapping.position for mapping in self.report.columns
        }
        orders: dict[str, _Order] = {}
        for number, cells in records:
            if not any(cell.strip() for cell in cells):
                continue
            self._read_row(number, cells, header, orders)
        entry_rows = [self._entry_row(order) for order in orders.values()]
        self.flush_row_errors()
        if not orders and self.report.ok:
            self.report.add_error(RowError(None, "", "", "The file has a header but no data rows."))
        return entry_rows if self.report.ok else []

    def flush_row_errors(self) -> None:
        """Move the row errors into the report, in order of row and column."""
        errors, dropped = self.row_errors.sorted()
        for error in errors:
            self.report.add_error(error)
        self.report.errors_not_listed += dropped
        self.row_errors = _RowErrors()

    # The header

    def _header(
        self, records: Iterator[tuple[int, list[str]]], delimiter: str
    ) -> list[str | None] | None:
        """Map each header cell to a known column name, or None for an ignored column."""
        for number, cells in records:
            if any(cell.strip() for cell in cells):
                break
        else:
            self.report.add_error(RowError(None, "", "", "The file is empty."))
            return None

        if len(cells) == 1:
            self.report.add_error(
                RowError(
                    row=number,
                    column="",
                    value=cells[0][:80],
                    message=(
                        f"The header reads as a single column when split with {delimiter_name(delimiter)}. "
                        "The file needs order_ref and at least one more column. Check the delimiter "
                        "(comma or semicolon)."
                    ),
                )
            )
            return None

        names: list[str | None] = []
        for position, raw in enumerate(cells, start=1):
            name = normalise_header(raw)
            column = COLUMN_ALIASES.get(name, name)
            if column in KNOWN_COLUMNS:
                if column in self.headers:
                    self.report.add_error(
                        RowError(
                            row=number,
                            column=raw.strip(),
                            value="",
                            message=f"The column {column} appears twice (as {self.headers[column]} and {raw.strip()}).",
                        )
                    )
                    continue
                self.headers[column] = raw.strip()
                names.append(column)
                self.report.columns.append(ColumnMapping(position, raw.strip(), column))
            else:
                names.append(None)
                if name == "source":
                    # An exported file names each entry's source; it must match the import's.
                    self.source_position = position - 1
                label = raw.strip() or f"(unnamed column {position})"
                self.report.columns.append(ColumnMapping(position, label, None))
                if raw.strip():
                    self.report.ignored_columns.append(raw.strip())

        if "order_ref" not in self.headers:
            self.report.add_error(
                RowError(
                    row=number,
                    column="order_ref",
                    value="",
                    message="The required column order_ref is missing from the header.",
                )
            )
        return names

    def _check_default_channel(self) -> None:
        code = self.options.channel
        if code and code not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none yet"
            self.report.add_error(
                RowError(
                    None, "channel", code, f"Unknown default channel. Known channel codes: {known}."
                )
            )
        elif not code and "channel" not in self.headers:
            self.report.add_error(
                RowError(
                    None,
                    "channel",
                    "",
                    "The file has no channel column and no default channel was chosen. Choose a default channel.",
                )
            )

    # The rows

    def _read_row(
        self, number: int, cells: list[str], header: list[str | None], orders: dict[str, _Order]
    ) -> None:
        extra = [cell for cell in cells[len(header) :] if cell.strip()]
        if extra:
            self._error(
                number,
                "",
                extra[0],
                f"The row has {len(cells)} values but the header has {len(header)} columns.",
            )
            return

        if self.source_position is not None and self.source_position < len(cells):
            stated_source = cells[self.source_position].strip()
            if stated_source and stated_source != self.options.source:
                self._error(
                    number,
                    "source",
                    stated_source,
                    f"The row is for source {stated_source!r} but the import is into {self.options.source!r}. "
                    f"Import the file with source {stated_source!r}.",
                )
                return

        values: dict[str, _Cell] = {}
        invalid_columns: set[str] = set()
        for column, raw in zip(header, cells, strict=False):
            if column is None:
                continue
            text = strip_formula_guard(raw)
            # A cell the export guarded with an apostrophe is read verbatim, so a value with
            # a leading tab or space comes back as it was stored.
            if text == raw and column not in FREE_TEXT_COLUMNS:
                text = text.strip()
            if not text and column in EMPTY_MEANS_UNSTATED:
                continue
            try:
                values[column] = _Cell(self._parse_cell(column, text), number, text)
            except ValueError as exc:
                self._error(number, self.headers[column], text, str(exc))
                invalid_columns.add(column)

        ref_cell = values.pop("order_ref", None)
        if ref_cell is None:
            # The cell was invalid, and _parse_cell's error already names it.
            return
        if not ref_cell.value:
            self._error(number, self.headers["order_ref"], "", "The order reference is missing.")
            return

        order = orders.setdefault(ref_cell.value, _Order(ref=ref_cell.value))
        order.rows.append(number)
        order.invalid_columns.update(invalid_columns)
        for column, cell in values.items():
            if column in ENTRY_COLUMNS:
                order.cells.setdefault(column, []).append(cell)
        self._add_line(order, number, values)

    def _add_line(self, order: _Order, number: int, values: dict[str, _Cell]) -> None:
        if "sku" not in self.headers:
            return
        sku = values.get("sku")
        if sku is None or not sku.value:
            stray = next(
                (
                    column
                    for column in LINE_COLUMNS[1:]
                    if values.get(column) and values[column].text
                ),
                None,
            )
            if stray:
                self._error(
                    number,
                    self.headers[stray],
                    values[stray].text,
                    "A line value needs a SKU in the same row.",
                )
            return
        for first_row, line in order.lines:
            if line.sku == sku.value:
                self._error(
                    number,
                    self.headers["sku"],
                    sku.text,
                    f"Order {order.ref} lists this SKU in rows {first_row} and {number}. "
                    "Give each SKU of an order once, with its total quantity.",
                )
                return

        def cell_value(column: str, default: Any) -> Any:
            cell = values.get(column)
            return default if cell is None or cell.value is None else cell.value

        order.lines.append(
            (
                number,
                LineRow(
                    sku=sku.value,
                    quantity=cell_value("qty", 1),
                    category=cell_value("category", ""),
                    seller=cell_value("seller", ""),
                    unit_price=cell_value("unit_price", None),
                ),
            )
        )

    def _entry_row(self, order: _Order) -> EntryRow:
        values: dict[str, Any] = {}
        # Columns whose problem is already reported: an invalid cell, or rows that disagree.
        reported = set(order.invalid_columns)
        for column, field_name in ENTRY_COLUMNS.items():
            if column not in self.headers:
                continue
            stated = [cell for cell in order.cells.get(column, []) if cell.text]
            distinct = {cell.value for cell in stated}
            if len(distinct) > 1:
                first, conflicting = (
                    stated[0],
                    next(cell for cell in stated if cell.value != stated[0].value),
                )
                self._error(
                    conflicting.row,
                    self.headers[column],
                    conflicting.text,
                    f"Order {order.ref} has {first.text!r} here in row {first.row}; "
                    "the rows of one order must agree (or leave the cell empty).",
                )
                reported.add(column)
                continue
            if stated:
                values[field_name] = stated[0].value
            elif column not in EMPTY_MEANS_UNSTATED:
                values[field_name] = self._empty_value(column)

        if "channel_id" not in values:
            if self.options.channel in self.channels:
                values["channel_id"] = self.channels[self.options.channel]
            elif "channel" in self.headers and "channel" not in reported:
                self._error(
                    order.rows[0],
                    self.headers["channel"],
                    "",
                    "The channel is missing and no default channel was chosen.",
                )
        lines = [line for _, line in order.lines] if "sku" in self.headers else None
        return EntryRow(external_ref=order.ref, values=values, lines=lines, source_rows=order.rows)

    @staticmethod
    def _empty_value(column: str) -> Any:
        if column in DATE_COLUMNS:
            return None
        if column == "items_unavailable":
            return False
        return ""

    def _error(self, row: int, column: str, value: str, message: str) -> None:
        self.row_errors.add(RowError(row=row, column=column, value=value, message=message))

    # Cells

    def _parse_cell(self, column: str, text: str) -> Any:
        """Return the cell's value, or raise ValueError with a message for an invalid one."""
        if column in DATE_COLUMNS:
            return self.dates.parse(text) if text else None
        parser = CELL_PARSERS.get(column)
        if parser is not None:
            return parser(self, text) if text else None
        limit = MAX_LENGTHS.get(column)
        if limit and len(text) > limit:
            raise ValueError(f"Too long: at most {limit} characters.")
        return text

    def _channel(self, text: str) -> int:
        if text not in self.channels:
            known = ", ".join(sorted(self.channels)) or "none yet"
            raise ValueError(f"Unknown channel code. Known channel codes: {known}.")
        return self.channels[text]


def _order_ref(_parser: _GenericParser, text: str) -> str:
    if len(text) > MAX_LENGTHS["order_ref"]:
        raise ValueError(f"Too long: at most {MAX_LENGTHS['order_ref']} characters.")
    return text


def _email(_parser: _GenericParser, text: str) -> str:
    if len(text) > MAX_LENGTHS["customer_email"]:
        raise ValueError(f"Too long: at most {MAX_LENGTHS['customer_email']} characters.")
    try:
        validate_email(text)
    except ValidationError:
        raise ValueError("Invalid e-mail address.") from None
    return text


def _choice(
    choices: type[Stage] | type[Status], column: str
) -> Callable[[_GenericParser, str], str]:
    by_text = {}
    for value, label in choices.choices:
        by_text[value.lower()] = value
        by_text[label.lower()] = value

    def parse(_parser: _GenericParser, text: str) -> str:
        try:
            return by_text[text.lower()]
        except KeyError:
            allowed = ", ".join(value for value, _ in choices.choices)
            raise ValueError(f"Invalid {column}: expected one of {allowed}.") from None

    return parse


def _flag(_parser: _GenericParser, text: str) -> bool:
    word = text.lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError("Invalid yes/no value: expected true, false, 1, 0, yes or no.")


def _quantity(_parser: _GenericParser, text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_QUANTITY:
        raise ValueError(f"Invalid quantity: expected a whole number from 1 to {MAX_QUANTITY}.")
    return int(text)


def _price(_parser: _GenericParser, text: str) -> Decimal:
    # A decimal comma, as German or Brazilian spreadsheets write it, is accepted when the
    # cell has no point, so "12,50" and "12.50" are the same price.
    normalised = text.replace(",", ".") if "." not in text and text.count(",") == 1 else text
    try:
        price = Decimal(normalised)
    except InvalidOperation:
        raise ValueError("Invalid price: expected a number such as 12.50.") from None
    if (
        not price.is_finite()
        or price < 0
        or price.as_tuple().exponent < -2
        or price >= Decimal("1e10")
    ):
        raise ValueError(
            "Invalid price: expected a number from 0 to 9999999999.99 with at most two decimals."
        )
    return price


CELL_PARSERS: dict[str, Callable[[_GenericParser, str], Any]] = {
    "order_ref": _order_ref,
    "channel": _GenericParser._channel,
    "customer_email": _email,
    "stage": _choice(Stage, "stage"),
    "status": _choice(Status, "status"),
    "items_unavailable": _flag,
    "qty": _quantity,
    "unit_price": _price,
}
