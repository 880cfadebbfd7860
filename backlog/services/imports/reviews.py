"""Import the Olist order reviews as inbound customer contacts of the orders' entries.

Each review with a comment title or message becomes one contact of channel "review" on the
entry of its order. The contact's note is the title and the message exactly as the customer
wrote them, joined by a blank line when both are present. Reviews without a comment, and
reviews whose order is not an entry, are counted and skipped. Any invalid row stops the
whole import, so nothing is written.
"""

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction

from backlog.models import BacklogEntry
from inbound.models import ContactChannel
from inbound.services import ContactRow, contacts_import

from .olist import DEFAULT_SOURCE_TZ
from .olist import SOURCE as ORDERS_SOURCE
from .reading import DateReader, FileProblem, decode, normalise_header, read_records
from .report import ImportReport, RowError, errors_text
from .runs import import_run_record

logger = logging.getLogger(__name__)

SOURCE = "olist-reviews"
FILE_FORMAT = "olist-reviews"
REVIEWS_FILE = "olist_order_reviews_dataset.csv"
REQUIRED_COLUMNS = (
    "review_id",
    "order_id",
    "review_comment_title",
    "review_comment_message",
    "review_creation_date",
)
# Olist writes every timestamp in this form, as a local time of São Paulo.
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
NOTE_SEPARATOR = "\n\n"
# Order ids per IN list when looking up entries; below SQLite's limit of bound parameters.
LOOKUP_CHUNK = 900


@dataclass
class ReviewImportReport(ImportReport):
    reviews: int = 0
    without_comment: int = 0
    # Reviews with a comment whose order is not an entry of the orders' source.
    unknown_order: int = 0

    def summary(self) -> str:
        if self.errors:
            return f"{errors_text(self.error_count)} found, so nothing was written."
        counts = (
            f"{self.reviews} reviews: {self.created} contacts created, {self.unchanged} already "
            f"stored, {self.unknown_order} skipped because their order is not an entry, "
            f"{self.without_comment} without a comment"
        )
        return f"{counts} (dry run: nothing was written)." if self.dry_run else f"{counts}."


def review_note(title: str, message: str) -> str:
    """Join the comment's title and message verbatim; a blank cell (spaces only) is left out."""
    return NOTE_SEPARATOR.join(part for part in (title, message) if part.strip())


def review_external_ref(review_id: str, order_id: str) -> str:
    # Olist reuses a review id for several orders of one purchase, so the id alone is not unique.
    return f"{review_id}:{order_id}"


def import_olist_reviews(
    folder: Path,
    *,
    now: datetime,
    dry_run: bool = False,
    entry_source: str = ORDERS_SOURCE,
    source_tz: str = DEFAULT_SOURCE_TZ,
) -> ReviewImportReport:
    """Import the reviews file of `folder` as contacts of the entries of `entry_source`."""
    report = ReviewImportReport(dry_run=dry_run)
    started = time.monotonic()
    path = folder / REVIEWS_FILE
    if not path.is_file():
        report.add_error(
            RowError(
                None,
                "",
                "",
                f"The file {REVIEWS_FILE} is missing from the folder. "
                "Give the Olist folder that contains it.",
            )
        )
        return report
    try:
        zone = ZoneInfo(source_tz)
    except (ZoneInfoNotFoundError, ValueError):
        report.add_error(
            RowError(None, "", source_tz, "Unknown time zone: use an IANA name such as America/Sao_Paulo.")
        )
        return report

    parsed = _read_reviews(path.read_bytes(), zone=zone, report=report)
    report.timings["read"] = round(time.monotonic() - started, 3)
    if report.ok:
        started = time.monotonic()
        _write(parsed, entry_source=entry_source, report=report, now=now, dry_run=dry_run)
        report.timings["write"] = round(time.monotonic() - started, 3)

    if not dry_run:
        import_run_record(
            report, source=SOURCE, file_format=FILE_FORMAT, file_name=folder.name, started_at=now
        )
    logger.info("Olist reviews import of folder %s: %s", folder.name, report.summary())
    return report


@dataclass(frozen=True)
class _Review:
    row: int
    order_id: str
    external_ref: str
    received_at: datetime
    note: str


def _read_reviews(data: bytes, *, zone: ZoneInfo, report: ReviewImportReport) -> list[_Review]:
    try:
        text = decode(data, "utf-8").text
        records = read_records(text, ",")
        _, header = next(records, (1, []))
        columns = {normalise_header(name): position for position, name in enumerate(header)}
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            report.add_error(
                RowError(1, "", "", f"Missing columns: {', '.join(missing)}.", file=REVIEWS_FILE)
            )
            return []
        return _parse_records(records, columns=columns, zone=zone, report=report)
    except FileProblem as problem:
        report.add_error(problem.error)
        return []


def _parse_records(
    records, *, columns: dict[str, int], zone: ZoneInfo, report: ReviewImportReport
) -> list[_Review]:
    dates = DateReader(date_format=DATE_FORMAT, zone=zone)
    reviews = []
    seen = {}

    def error(row: int, column: str, value: str, message: str) -> None:
        report.add_error(RowError(row, column, value, message, file=REVIEWS_FILE))

    for row, cells in records:
        if len(cells) != len(columns):
            error(row, "", "", f"Expected {len(columns)} cells, found {len(cells)}.")
            continue
        report.reviews += 1

        def cell(name: str) -> str:
            return cells[columns[name]]

        title, message = cell("review_comment_title"), cell("review_comment_message")
        if not (title.strip() or message.strip()):
            report.without_comment += 1
            continue
        review_id, order_id = cell("review_id").strip(), cell("order_id").strip()
        if not review_id:
            error(row, "review_id", "", "Missing review id.")
        if not order_id:
            error(row, "order_id", "", "Missing order id.")
        try:
            received_at = dates.parse(cell("review_creation_date").strip())
        except ValueError as exc:
            error(
                row,
                "review_creation_date",
                cell("review_creation_date"),
                f"{exc} Olist writes 2018-06-12 00:00:00.",
            )
            continue
        if not (review_id and order_id):
            continue
        external_ref = review_external_ref(review_id, order_id)
        if external_ref in seen:
            error(
                row,
                "review_id",
                review_id,
                f"The same review of order {order_id} is on row {seen[external_ref]} too.",
            )
            continue
        seen[external_ref] = row
        reviews.append(_Review(row, order_id, external_ref, received_at, review_note(title, message)))
    return reviews


def _write(
    reviews: list[_Review],
    *,
    entry_source: str,
    report: ReviewImportReport,
    now: datetime,
    dry_run: bool,
) -> None:
    order_ids = sorted({review.order_id for review in reviews})
    entry_ids = {}
    for start in range(0, len(order_ids), LOOKUP_CHUNK):
        entry_ids.update(
            BacklogEntry.objects.filter(
                source=entry_source, external_ref__in=order_ids[start : start + LOOKUP_CHUNK]
            ).values_list("external_ref", "pk")
        )

    rows = []
    for review in reviews:
        entry_id = entry_ids.get(review.order_id)
        if entry_id is None:
            report.unknown_order += 1
            continue
        rows.append(
            ContactRow(
                entry_id=entry_id,
                channel=ContactChannel.REVIEW,
                received_at=review.received_at,
                note=review.note,
                source=SOURCE,
                external_ref=review.external_ref,
            )
        )

    try:
        with transaction.atomic():
            created = contacts_import(rows, now=now, reason_suffix=" Imported from the Olist reviews.")
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError:
        logger.warning("Olist reviews import collided with a concurrent import.")
        report.add_error(
            RowError(
                None,
                "",
                "",
                "Another import stored some of these reviews at the same time. Run it again.",
            )
        )
        return
    report.created = created
    report.unchanged = len(rows) - created
