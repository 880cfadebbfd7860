"""Classify a backlog entry from its recorded facts.

`classify` is a pure function: the same facts, thresholds and `now` always give the same
type and reasons, so a lead can see why an entry got its type and a replay gives the same
answer. Each fired signal is returned with the values that made it fire.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from .models import BacklogType, Stage

SURGE_DIMENSIONS = ("category", "seller", "region")
PRE_SHIPMENT_STAGES = (Stage.AWAITING_APPROVAL, Stage.AWAITING_ALLOCATION, Stage.AWAITING_HANDOVER)


class Thresholds(TypedDict):
    approval_target_hours: float
    handover_grace_hours: float
    promise_grace_hours: float
    surge_factor: float
    surge_baseline_days: int
    surge_min_orders: int


class Reason(TypedDict):
    signal: str
    type: str
    label: str
    values: dict[str, Any]


class DemandFigure(TypedDict):
    """Intake of the entry's order day for one category, seller or region."""

    key: str
    day: str
    count: int
    baseline: float


@dataclass(frozen=True)
class EntryFacts:
    stage: str
    ordered_at: datetime
    approved_at: datetime | None = None
    handed_over_at: datetime | None = None
    handover_due_at: datetime | None = None
    promised_at: datetime | None = None
    items_unavailable: bool = False
    # Keyed by dimension ("category", "seller", "region").
    intake_demand: dict[str, DemandFigure] = field(default_factory=dict)


@dataclass(frozen=True)
class Classification:
    backlog_type: str
    reasons: list[Reason]


def classify(facts: EntryFacts, *, now: datetime, thresholds: Thresholds) -> Classification:
    """Return the backlog type of an entry and every signal that fired, with its values."""
    reasons = [
        *_processing_reasons(facts, now=now, thresholds=thresholds),
        *_allocation_reasons(facts),
        *_demand_reasons(facts, thresholds=thresholds),
    ]

    fired_types = {reason["type"] for reason in reasons}
    if not fired_types:
        backlog_type = BacklogType.UNCLASSIFIED
    elif len(fired_types) == 1:
        backlog_type = BacklogType(fired_types.pop())
    else:
        backlog_type = BacklogType.MIXED
    return Classification(backlog_type=backlog_type.value, reasons=reasons)


def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _processing_reasons(facts: EntryFacts, *, now: datetime, thresholds: Thresholds) -> list[Reason]:
    reasons: list[Reason] = []

    if facts.stage == Stage.AWAITING_APPROVAL:
        waited = now - facts.ordered_at
        target = timedelta(hours=thresholds["approval_target_hours"])
        if waited > target:
            reasons.append(
                Reason(
                    signal="approval_late",
                    type=BacklogType.PROCESSING.value,
                    label="Payment approval is lagging its target",
                    values={"hours_waiting": _hours(waited), "target_hours": _hours(target)},
                )
            )

    if facts.stage == Stage.AWAITING_HANDOVER and facts.handover_due_at:
        late_by = now - facts.handover_due_at
        if late_by > timedelta(hours=thresholds["handover_grace_hours"]):
            reasons.append(
                Reason(
                    signal="handover_late",
                    type=BacklogType.PROCESSING.value,
                    label="Hand-over to the carrier is past the seller's limit",
                    values={
                        "hours_late": _hours(late_by),
                        "handover_due_at": facts.handover_due_at.isoformat(),
                    },
                )
            )

    promise_passed_by = now - facts.promised_at if facts.promised_at else None
    promise_grace = timedelta(hours=thresholds["promise_grace_hours"])
    if promise_passed_by is not None and promise_passed_by > promise_grace:
        values = {"hours_late": _hours(promise_passed_by), "promised_at": facts.promised_at.isoformat()}
        if facts.stage == Stage.IN_TRANSIT:
            reasons.append(
                Reason(
                    signal="transit_late",
                    type=BacklogType.PROCESSING.value,
                    label="In transit past the promised delivery date",
                    values=values,
                )
            )
        elif facts.stage in PRE_SHIPMENT_STAGES:
            # An order without a hand-over limit (no lines, say) still shows as late once
            # the date promised to the customer has passed before it shipped.
            reasons.append(
                Reason(
                    signal="promise_passed",
                    type=BacklogType.PROCESSING.value,
                    label="The promised delivery date passed before the order shipped",
                    values=values,
                )
            )

    return reasons


def _allocation_reasons(facts: EntryFacts) -> list[Reason]:
    if not facts.items_unavailable:
        return []
    return [
        Reason(
            signal="items_unavailable",
            type=BacklogType.ALLOCATION.value,
            label="Ordered items are unavailable for this channel",
            values={"stage": facts.stage},
        )
    ]


def _demand_reasons(facts: EntryFacts, *, thresholds: Thresholds) -> list[Reason]:
    reasons: list[Reason] = []
    for dimension in SURGE_DIMENSIONS:
        figure = facts.intake_demand.get(dimension)
        if figure is None or not is_surge(figure["count"], figure["baseline"], thresholds=thresholds):
            continue
        reasons.append(
            Reason(
                signal=f"{dimension}_surge",
                type=BacklogType.DEMAND.value,
                label=f"Intake for this {dimension} was well above its trailing baseline",
                values={
                    dimension: figure["key"],
                    "day": figure["day"],
                    "orders": figure["count"],
                    "baseline_per_day": figure["baseline"],
                    "factor": thresholds["surge_factor"],
                },
            )
        )
    return reasons


def is_surge(count: int, baseline: float, *, thresholds: Thresholds) -> bool:
    """Tell whether a day's intake is a surge against the trailing daily mean."""
    if count < thresholds["surge_min_orders"]:
        return False
    return count >= thresholds["surge_factor"] * baseline
