"""Rows handed to the writer: one entry of an order with its lines, as a source states it."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from backlog.models import Stage, Status

# Entry fields an import may write. A row's `values` contains a subset of them: the fields its
# source states. A field the source does not state keeps its stored value on update.
ENTRY_FIELDS = (
    "channel_id",
    "customer_name",
    "customer_email",
    "region",
    "ordered_at",
    "approved_at",
    "handed_over_at",
    "delivered_at",
    "handover_due_at",
    "promised_at",
    "items_unavailable",
    "detected_at",
    "stage",
    "status",
    "closed_at",
    "resolution_method_id",
    "note",
)
DATETIME_FIELDS = (
    "ordered_at",
    "approved_at",
    "handed_over_at",
    "delivered_at",
    "handover_due_at",
    "promised_at",
    "detected_at",
    "closed_at",
)
CLOSED_STATUSES = (Status.RESOLVED, Status.CLOSED)


@dataclass(frozen=True)
class LineRow:
    """One SKU line of an order."""

    sku: str
    quantity: int = 1
    category: str = ""
    seller: str = ""
    unit_price: Decimal | None = None

    def as_tuple(self) -> tuple:
        return (self.sku, self.quantity, self.category, self.seller, self.unit_price)

    def __str__(self) -> str:
        return f"{self.sku} x {self.quantity}"


@dataclass
class EntryRow:
    """One order as a source states it, keyed by its external reference.

    `lines` is None when the source states no lines, so the stored lines stay. An empty
    list means the order has no lines.
    """

    external_ref: str
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[LineRow] | None = None
    # Rows of the file this order came from, for the preview.
    source_rows: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        unknown = set(self.values) - set(ENTRY_FIELDS)
        if unknown:
            raise ValueError(f"Fields an import cannot write: {', '.join(sorted(unknown))}.")


def stage_from_timestamps(
    *, approved_at: datetime | None, handed_over_at: datetime | None, delivered_at: datetime | None
) -> str:
    """Return the stage an order's progress timestamps put it in.

    Awaiting allocation is never derived: no timestamp marks it, so only a source that
    states the stage can set it.
    """
    if delivered_at is not None:
        return Stage.DELIVERED.value
    if handed_over_at is not None:
        return Stage.IN_TRANSIT.value
    if approved_at is not None:
        return Stage.AWAITING_HANDOVER.value
    return Stage.AWAITING_APPROVAL.value


def preview_of(row: EntryRow, *, channel_codes: dict[int, str]) -> dict[str, str]:
    """Describe a row for the preview table: what the source states, times in the site's zone."""

    def display(name: str) -> str:
        if name not in row.values:
            return ""
        value = row.values[name]
        if value is None:
            return "(empty)"
        if isinstance(value, datetime):
            return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
        if isinstance(value, bool):
            return "yes" if value else "no"
        return str(value)

    channel_id = row.values.get("channel_id")
    return {
        "rows": ", ".join(str(number) for number in row.source_rows),
        "order_ref": row.external_ref,
        "channel": channel_codes.get(channel_id, "") if channel_id else "",
        "customer_name": display("customer_name"),
        "stage": display("stage") or ("derived" if row.values else ""),
        "status": display("status"),
        "ordered_at": display("ordered_at"),
        "promised_at": display("promised_at"),
        "items_unavailable": display("items_unavailable"),
        "lines": "; ".join(str(line) for line in row.lines) if row.lines is not None else "",
    }
