"""Import the Olist Brazilian e-commerce data set as it stood at one moment, "as of" T.

Each order becomes one entry of source "olist" in the marketplace channel; its items,
grouped by product, become the lines. The rules that decide an order's state at T:

- Only orders purchased at or before T are imported. Timestamps after T are the future
  as of T, so they are stored empty.
- An order delivered at or before T is closed, in stage delivered, closed at delivery.
- Otherwise its stage at T follows its timestamps: awaiting approval (not approved by T),
  awaiting hand-over (approved, not handed to the carrier by T), in transit (handed over,
  not delivered by T).
- A canceled order has no cancellation time in the data. It counts as closed, with
  resolution method cancel-refund, at its latest recorded timestamp (purchase, approval,
  hand-over or delivery) when that is at or before T; else it is open in its stage at T.
- An unavailable order stays open in its stage at T with items_unavailable set, which
  fires the allocation signal: the seller could not supply the items, and the data has
  no refund time.

Without an explicit T, T is the latest recorded event (purchase, approval, hand-over or
delivery) in the orders file. Delivered orders are stored as closed entries because the
demand baselines count every order, open or closed.
"""

import csv
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import IntegrityError, transaction

from backlog.models import Channel, ResolutionMethod, Status

from .report import PREVIEW_ROWS, ImportReport, RowError
from .rows import DATETIME_FIELDS, EntryRow, LineRow, preview_of, stage_from_timestamps
from .runs import import_run_record
from .writer import entries_upsert, upsert_plan

logger = logging.getLogger(__name__)

FILE_FORMAT = "olist"
SOURCE = "olist"
CHANNEL_CODE = "marketplace"
CHANNEL_NAME = "Marketplace"
CANCEL_METHOD_CODE = "cancel-refund"
# Olist's timestamps are local times of São Paulo, without an offset.
DEFAULT_SOURCE_TZ = "America/Sao_Paulo"
# Olist has no customer names, so the name is this prefix and the start of the customer's id.
CUSTOMER_NAME_PREFIX = "Customer "
CUSTOMER_ID_CHARS = 8

ORDERS_FILE = "olist_orders_dataset.csv"
ITEMS_FILE = "olist_order_items_dataset.csv"
CUSTOMERS_FILE = "olist_customers_dataset.csv"
PRODUCTS_FILE = "olist_products_dataset.csv"
REQUIRED_COLUMNS = {
    ORDERS_FILE: (
        "order_id",
        "customer_id",
        "order_status",
        "order_purchase_timestamp",
        "order_approved_at",
        "order_delivered_carrier_date",
        "order_delivered_customer_date",
        "order_estimated_delivery_date",
    ),
    ITEMS_FILE: (
        "order_id",
        "order_item_id",
        "product_id",
        "seller_id",
        "shipping_limit_date",
        "price",
    ),
    CUSTOMERS_FILE: ("customer_id", "customer_unique_id", "customer_state"),
    PRODUCTS_FILE: ("product_id", "product_category_name"),
}
# The recorded events of an order; the latest of them in the file is the default T.
EVENT_FIELDS = ("purchased_at", "approved_at", "handed_over_at", "delivered_at")


@dataclass(frozen=True)
class OlistOptions:
    # Aware time; None means the latest recorded event in the orders file.
    as_of: datetime | None = None
    # Move every stored time by (now - as_of), so ages on the dashboard look live.
    shift_to_now: bool = False
    # Folder holding olist_products_dataset.csv; None means the catalog folder beside the data folder.
    catalog: Path | None = None
    source_tz: str = DEFAULT_SOURCE_TZ


@dataclass(frozen=True)
class OrderFacts:
    """An order's recorded events, in UTC."""

    status: str
    purchased_at: datetime
    approved_at: datetime | None
    handed_over_at: datetime | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class OrderState:
    """An order as it stood at T: what was known then, and whether it was open."""

    stage: str
    closed: bool
    closed_at: datetime | None
    canceled: bool
    approved_at: datetime | None
    handed_over_at: datetime | None
    delivered_at: datetime | None


def order_state_at(facts: OrderFacts, as_of: datetime) -> OrderState:
    """Apply the as-of rules of this module's docstring to one order purchased by `as_of`."""

    def known(moment: datetime | None) -> datetime | None:
        return moment if moment is not None and moment <= as_of else None

    approved_at, handed_over_at, delivered_at = (
        known(facts.approved_at),
        known(facts.handed_over_at),
        known(facts.delivered_at),
    )
    stage = stage_from_timestamps(
        approved_at=approved_at, handed_over_at=handed_over_at, delivered_at=delivered_at
    )
    state = {
        "stage": stage,
        "approved_at": approved_at,
        "handed_over_at": handed_over_at,
        "delivered_at": delivered_at,
    }
    if delivered_at is not None:
        return OrderState(closed=True, closed_at=delivered_at, canceled=False, **state)

    if facts.status == "canceled":
        recorded = [
            moment
            for moment in (
                facts.purchased_at,
                facts.approved_at,
                facts.handed_over_at,
                facts.delivered_at,
            )
            if moment is not None
        ]
        latest = max(recorded)
        if latest <= as_of:
            return OrderState(closed=True, closed_at=latest, canceled=True, **state)
    return OrderState(closed=False, closed_at=None, canceled=False, **state)


def parse_as_of(text: str, *, source_tz: str = DEFAULT_SOURCE_TZ) -> datetime:
    """Parse an ISO 8601 time. A time without an offset is read in the source's zone.

    The source's zone is the one Olist's timestamps are in, so "2017-11-30T12:00"
    compares directly with the times in the files.
    """
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(source_tz))
    return value.astimezone(UTC)


def import_olist(
    folder: Path,
    *,
    options: OlistOptions,
    actor=None,
    now: datetime,
    dry_run: bool = False,
) -> ImportReport:
    """Import the Olist files of `folder` as of `options.as_of`, by the module docstring's rules.

    A dry run reports the counts and writes nothing. A real run creates the marketplace
    channel if it is missing and records an ImportRun.
    """
    report = ImportReport(dry_run=dry_run)
    started = time.monotonic()
    try:
        zone = ZoneInfo(options.source_tz)
    except (ZoneInfoNotFoundError, ValueError):
        report.add_error(
            RowError(
                None,
                "",
                options.source_tz,
                "Unknown time zone: use an IANA name such as America/Sao_Paulo.",
            )
        )
        zone = None
    reader = _OlistReader(
        folder, catalog=options.catalog or folder.parent / "catalog", zone=zone, report=report
    )
    if zone is not None:
        reader.read()
    report.timings["read"] = round(time.monotonic() - started, 3)

    if report.ok:
        _write(reader, options=options, report=report, actor=actor, now=now, dry_run=dry_run)

    if not dry_run:
        import_run_record(
            report,
            actor=actor,
            source=SOURCE,
            file_format=FILE_FORMAT,
            file_name=str(folder.name),
            started_at=now,
        )
    logger.info("Olist import of folder %s: %s", folder.name, report.summary())
    return report


def duration_text(duration: timedelta) -> str:
    """Format a duration to the minute, such as "3291 days 7 h 27 min", or in seconds below one."""
    minutes = int(duration.total_seconds() // 60)
    if minutes == 0:
        return f"{int(duration.total_seconds())} s"
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = []
    if days:
        parts.append(f"{days} day" if days == 1 else f"{days} days")
    if hours:
        parts.append(f"{hours} h")
    if minutes:
        parts.append(f"{minutes} min")
    return " ".join(parts)


def _write(
    reader: "_OlistReader",
    *,
    options: OlistOptions,
    report: ImportReport,
    actor,
    now: datetime,
    dry_run: bool,
) -> None:
    as_of = options.as_of or reader.latest_event
    if as_of is None:
        report.add_error(RowError(None, "", "", "The orders file has no orders.", file=ORDERS_FILE))
        return
    shift = now - as_of if options.shift_to_now else timedelta(0)
    report.notes.append(
        f"As of {as_of.astimezone(reader.zone):%Y-%m-%d %H:%M %Z}"
        + (" (given)." if options.as_of else " (the latest recorded event in the orders file).")
    )
    if shift:
        direction = "forward" if shift > timedelta(0) else "back"
        report.notes.append(
            f"Every stored time is moved {direction} by {duration_text(abs(shift))}, "
            "so that the as-of time becomes now."
        )

    started = time.monotonic()
    with transaction.atomic():
        channel = Channel.objects.filter(code=CHANNEL_CODE).first()
        if channel is None and not dry_run:
            channel = Channel.objects.create(code=CHANNEL_CODE, name=CHANNEL_NAME)
        if channel is None:
            report.notes.append(
                f"The {CHANNEL_CODE} channel does not exist yet; the import will create it."
            )
        cancel_method_id = (
            ResolutionMethod.objects.filter(code=CANCEL_METHOD_CODE)
            .values_list("pk", flat=True)
            .first()
        )
        # A dry run may lack the channel. Its id is then 0, which is harmless because nothing is written.
        rows, skipped = reader.entry_rows(
            as_of=as_of,
            shift=shift,
            channel_id=channel.pk if channel else 0,
            cancel_method_id=cancel_method_id,
        )
        report.notes.append(
            f"{len(rows)} orders purchased by then; {skipped} later orders skipped."
        )
        report.preview = [
            preview_of(row, channel_codes={channel.pk if channel else 0: CHANNEL_CODE})
            for row in rows[:PREVIEW_ROWS]
        ]
        report.timings["prepare"] = round(time.monotonic() - started, 3)

        started = time.monotonic()
        try:
            counts = (
                upsert_plan(rows, source=SOURCE, now=now).counts()
                if dry_run
                else entries_upsert(
                    rows,
                    source=SOURCE,
                    actor=actor,
                    now=now,
                    reason=f"Imported from the Olist data set as of {as_of.isoformat()}.",
                    classify_at=as_of + shift,
                )
            )
        except IntegrityError:
            logger.warning("Olist import collided with a concurrent import.")
            report.add_error(
                RowError(
                    None,
                    "",
                    "",
                    "Another import created some of these entries at the same time. Run it again.",
                )
            )
            return
    report.created, report.updated, report.unchanged = (
        counts.created,
        counts.updated,
        counts.unchanged,
    )
    report.timings.update(counts.timings)
    report.timings["compare" if dry_run else "write"] = round(time.monotonic() - started, 3)


class _OlistReader:
    """Reads and checks the Olist files, then turns each order into an EntryRow."""

    def __init__(
        self, folder: Path, *, catalog: Path, zone: ZoneInfo | None, report: ImportReport
    ) -> None:
        self.folder = folder
        self.catalog = catalog
        self.zone = zone
        self.report = report
        self.orders: list[dict[str, Any]] = []
        self.items: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.customers: dict[str, tuple[str, str]] = {}
        self.categories: dict[str, str] = {}
        self.latest_event: datetime | None = None

    def read(self) -> None:
        for number, record in self._records(self.folder / ORDERS_FILE):
            order = {
                "row": number,
                "order_id": record["order_id"],
                "customer_id": record["customer_id"],
                "status": record["order_status"],
                "purchased_at": self._time(
                    record, "order_purchase_timestamp", ORDERS_FILE, number, required=True
                ),
                "approved_at": self._time(record, "order_approved_at", ORDERS_FILE, number),
                "handed_over_at": self._time(
                    record, "order_delivered_carrier_date", ORDERS_FILE, number
                ),
                "delivered_at": self._time(
                    record, "order_delivered_customer_date", ORDERS_FILE, number
                ),
                "promised_at": self._time(
                    record, "order_estimated_delivery_date", ORDERS_FILE, number
                ),
            }
            self.orders.append(order)
        self.latest_event = max(
            (
                order[name]
                for order in self.orders
                for name in EVENT_FIELDS
                if order[name] is not None
            ),
            default=None,
        )

        for number, record in self._records(self.folder / ITEMS_FILE):
            self.items[record["order_id"]].append(
                {
                    "position": self._integer(record, "order_item_id", number),
                    "product_id": record["product_id"],
                    "seller_id": record["seller_id"],
                    "price": self._price(record, number),
                    "limit": self._time(record, "shipping_limit_date", ITEMS_FILE, number),
                }
            )

        for _, record in self._records(self.folder / CUSTOMERS_FILE):
            self.customers[record["customer_id"]] = (
                record["customer_unique_id"],
                record["customer_state"],
            )

        for _, record in self._records(self.catalog / PRODUCTS_FILE):
            self.categories[record["product_id"]] = record["product_category_name"]

    def entry_rows(
        self, *, as_of: datetime, shift: timedelta, channel_id: int, cancel_method_id: int | None
    ) -> tuple[list[EntryRow], int]:
        """Return an EntryRow per order purchased by `as_of`, and how many later ones were skipped."""
        rows = []
        skipped = 0
        for order in self.orders:
            if order["purchased_at"] > as_of:
                skipped += 1
                continue
            rows.append(
                self._entry_row(
                    order, as_of=as_of, channel_id=channel_id, cancel_method_id=cancel_method_id
                )
            )
        if shift:
            for row in rows:
                for name in DATETIME_FIELDS:
                    if row.values.get(name) is not None:
                        row.values[name] += shift
        return rows, skipped

    def _entry_row(
        self,
        order: dict[str, Any],
        *,
        as_of: datetime,
        channel_id: int,
        cancel_method_id: int | None,
    ) -> EntryRow:
        facts = OrderFacts(
            status=order["status"],
            purchased_at=order["purchased_at"],
            approved_at=order["approved_at"],
            handed_over_at=order["handed_over_at"],
            delivered_at=order["delivered_at"],
        )
        state = order_state_at(facts, as_of)
        unique_id, state_code = self.customers.get(order["customer_id"], ("", ""))
        items = sorted(self.items.get(order["order_id"], []), key=lambda item: item["position"])
        limits = [item["limit"] for item in items if item["limit"] is not None]

        values: dict[str, Any] = {
            "channel_id": channel_id,
            "customer_name": f"{CUSTOMER_NAME_PREFIX}{unique_id[:CUSTOMER_ID_CHARS]}"
            if unique_id
            else "",
            "customer_email": "",
            "region": state_code,
            "ordered_at": facts.purchased_at,
            "detected_at": facts.purchased_at,
            "approved_at": state.approved_at,
            "handed_over_at": state.handed_over_at,
            "delivered_at": state.delivered_at,
            "handover_due_at": min(limits) if limits else None,
            "promised_at": order["promised_at"],
            "items_unavailable": order["status"] == "unavailable",
            "stage": state.stage,
        }
        if state.closed:
            values["status"] = Status.CLOSED.value
            values["closed_at"] = state.closed_at
        # An open order's status and method are left to staff: an import never reopens an
        # entry a lead put on hold or resolved, nor clears the method a lead chose.
        if state.canceled and cancel_method_id is not None:
            values["resolution_method_id"] = cancel_method_id
        return EntryRow(
            external_ref=order["order_id"],
            values=values,
            lines=self._lines(items),
            source_rows=[order["row"]],
        )

    def _lines(self, items: list[dict[str, Any]]) -> list[LineRow]:
        """Group an order's items into one line per product, seller and price, in item order."""
        grouped: dict[tuple[str, str, Decimal | None], int] = {}
        for item in items:
            key = (item["product_id"], item["seller_id"], item["price"])
            grouped[key] = grouped.get(key, 0) + 1
        return [
            LineRow(
                sku=product_id,
                quantity=quantity,
                category=self.categories.get(product_id, ""),
                seller=seller_id,
                unit_price=price,
            )
            for (product_id, seller_id, price), quantity in grouped.items()
        ]

    def _records(self, path: Path) -> Iterator[tuple[int, dict[str, str]]]:
        if not path.is_file():
            self.report.add_error(
                RowError(
                    None,
                    "",
                    str(path.name),
                    f"The file {path.name} was not found in {path.parent.name}/.",
                    file=path.name,
                )
            )
            return
        required = REQUIRED_COLUMNS[path.name]
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in required if column not in (reader.fieldnames or [])]
            if missing:
                self.report.add_error(
                    RowError(
                        1,
                        ", ".join(missing),
                        "",
                        "Required columns are missing from the header.",
                        file=path.name,
                    )
                )
                return
            try:
                for number, record in enumerate(reader, start=2):
                    yield number, record
            except csv.Error as exc:
                self.report.add_error(
                    RowError(None, "", "", f"The CSV is malformed: {exc}.", file=path.name)
                )

    def _time(
        self, record: dict[str, str], column: str, file: str, row: int, *, required: bool = False
    ) -> datetime | None:
        text = (record.get(column) or "").strip()
        if not text:
            if required:
                self.report.add_error(RowError(row, column, "", "The time is missing.", file=file))
            return None
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            self.report.add_error(
                RowError(
                    row, column, text, "Invalid time: expected YYYY-MM-DD HH:MM:SS.", file=file
                )
            )
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(UTC)

    def _integer(self, record: dict[str, str], column: str, row: int) -> int:
        text = (record.get(column) or "").strip()
        if not text.isdigit():
            self.report.add_error(
                RowError(
                    row, column, text, "Invalid number: expected a whole number.", file=ITEMS_FILE
                )
            )
            return 0
        return int(text)

    def _price(self, record: dict[str, str], row: int) -> Decimal | None:
        text = (record.get("price") or "").strip()
        if not text:
            return None
        try:
            price = Decimal(text).quantize(Decimal("0.01"))
        except InvalidOperation:
            self.report.add_error(
                RowError(
                    row,
                    "price",
                    text,
                    "Invalid price: expected a number such as 35.90.",
                    file=ITEMS_FILE,
                )
            )
            return None
        return price
