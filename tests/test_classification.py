"""Classification is a pure function of recorded facts; each case names the signals that fire."""

from datetime import datetime, timedelta, timezone

import pytest

from backlog.classification import EntryFacts, classify, is_surge
from backlog.models import BacklogType, Stage

UTC = timezone.utc
NOW = datetime(2017, 11, 30, 12, 0, tzinfo=UTC)
THRESHOLDS = {
    "approval_target_hours": 24.0,
    "handover_grace_hours": 0.0,
    "promise_grace_hours": 0.0,
    "surge_factor": 2.0,
    "surge_baseline_days": 28,
    "surge_min_orders": 5,
}


def surge(count: int, baseline: float, key: str = "cama_mesa_banho") -> dict:
    return {"key": key, "day": "2017-11-24", "count": count, "baseline": baseline}


CASES = [
    # (case id, facts, expected type, expected signals)
    (
        "fresh order awaiting approval",
        EntryFacts(stage=Stage.AWAITING_APPROVAL, ordered_at=NOW - timedelta(hours=23, minutes=59)),
        BacklogType.UNCLASSIFIED,
        [],
    ),
    (
        "approval just past its target",
        EntryFacts(stage=Stage.AWAITING_APPROVAL, ordered_at=NOW - timedelta(hours=24, seconds=1)),
        BacklogType.PROCESSING,
        ["approval_late"],
    ),
    (
        "approval exactly at its target",
        EntryFacts(stage=Stage.AWAITING_APPROVAL, ordered_at=NOW - timedelta(hours=24)),
        BacklogType.UNCLASSIFIED,
        [],
    ),
    (
        "hand-over before the seller's limit",
        EntryFacts(
            stage=Stage.AWAITING_HANDOVER,
            ordered_at=NOW - timedelta(days=3),
            handover_due_at=NOW + timedelta(minutes=1),
        ),
        BacklogType.UNCLASSIFIED,
        [],
    ),
    (
        "hand-over past the seller's limit",
        EntryFacts(
            stage=Stage.AWAITING_HANDOVER,
            ordered_at=NOW - timedelta(days=3),
            handover_due_at=NOW - timedelta(minutes=1),
        ),
        BacklogType.PROCESSING,
        ["handover_late"],
    ),
    (
        "in transit before the promised date",
        EntryFacts(stage=Stage.IN_TRANSIT, ordered_at=NOW - timedelta(days=10), promised_at=NOW + timedelta(hours=1)),
        BacklogType.UNCLASSIFIED,
        [],
    ),
    (
        "in transit past the promised date",
        EntryFacts(stage=Stage.IN_TRANSIT, ordered_at=NOW - timedelta(days=30), promised_at=NOW - timedelta(hours=1)),
        BacklogType.PROCESSING,
        ["transit_late"],
    ),
    (
        "awaiting hand-over past the promised date",
        EntryFacts(stage=Stage.AWAITING_HANDOVER, ordered_at=NOW - timedelta(days=40), promised_at=NOW - timedelta(hours=1)),
        BacklogType.PROCESSING,
        ["promise_passed"],
    ),
    (
        "late hand-over and promise passed",
        EntryFacts(
            stage=Stage.AWAITING_HANDOVER,
            ordered_at=NOW - timedelta(days=40),
            handover_due_at=NOW - timedelta(days=30),
            promised_at=NOW - timedelta(hours=1),
        ),
        BacklogType.PROCESSING,
        ["handover_late", "promise_passed"],
    ),
    (
        "items unavailable",
        EntryFacts(stage=Stage.AWAITING_HANDOVER, ordered_at=NOW - timedelta(days=1), items_unavailable=True),
        BacklogType.ALLOCATION,
        ["items_unavailable"],
    ),
    (
        "category surge",
        EntryFacts(
            stage=Stage.IN_TRANSIT,
            ordered_at=NOW - timedelta(days=6),
            promised_at=NOW + timedelta(days=10),
            intake_demand={"category": surge(12, 4.0)},
        ),
        BacklogType.DEMAND,
        ["category_surge"],
    ),
    (
        "intake below the surge factor",
        EntryFacts(
            stage=Stage.IN_TRANSIT,
            ordered_at=NOW - timedelta(days=6),
            promised_at=NOW + timedelta(days=10),
            intake_demand={"category": surge(7, 4.0)},
        ),
        BacklogType.UNCLASSIFIED,
        [],
    ),
    (
        "surge and late hand-over together",
        EntryFacts(
            stage=Stage.AWAITING_HANDOVER,
            ordered_at=NOW - timedelta(days=6),
            handover_due_at=NOW - timedelta(days=1),
            intake_demand={"region": surge(40, 10.0, key="SP"), "seller": surge(3, 0.2, key="s-1")},
        ),
        BacklogType.MIXED,
        ["handover_late", "region_surge"],
    ),
    (
        "unavailable items and late approval",
        EntryFacts(stage=Stage.AWAITING_APPROVAL, ordered_at=NOW - timedelta(days=2), items_unavailable=True),
        BacklogType.MIXED,
        ["approval_late", "items_unavailable"],
    ),
]


@pytest.mark.parametrize(("facts", "expected_type", "expected_signals"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_classify_table(facts, expected_type, expected_signals):
    result = classify(facts, now=NOW, thresholds=THRESHOLDS)

    assert result.backlog_type == expected_type
    assert [reason["signal"] for reason in result.reasons] == expected_signals


def test_classify_records_signal_values():
    facts = EntryFacts(stage=Stage.AWAITING_APPROVAL, ordered_at=NOW - timedelta(hours=30))

    reason = classify(facts, now=NOW, thresholds=THRESHOLDS).reasons[0]

    assert reason["values"] == {"hours_waiting": 30.0, "target_hours": 24.0}
    assert reason["type"] == "processing"
    assert reason["label"]


def test_classify_is_repeatable():
    facts = EntryFacts(
        stage=Stage.AWAITING_HANDOVER,
        ordered_at=NOW - timedelta(days=2),
        handover_due_at=NOW - timedelta(hours=3),
        items_unavailable=True,
    )

    first = classify(facts, now=NOW, thresholds=THRESHOLDS)
    second = classify(facts, now=NOW, thresholds=THRESHOLDS)

    assert first == second


@pytest.mark.parametrize(
    ("count", "baseline", "expected"),
    [
        (4, 0.0, False),  # below the minimum, even with no history
        (5, 0.0, True),
        (9, 4.6, False),
        (10, 5.0, True),
    ],
)
def test_is_surge_boundaries(count, baseline, expected):
    assert is_surge(count, baseline, thresholds=THRESHOLDS) is expected
