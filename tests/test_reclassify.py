"""The periodic re-classification keeps time-driven signals current for entries nobody queues."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backlog.models import BacklogType, Stage
from backlog.services.classifying import entries_classify, entries_reclassify_stale, entries_record_demand
from backlog.tasks import reclassify_stale_entries_task
from tests.factories import EntryFactory, UserFactory, resolution_method

pytestmark = pytest.mark.django_db


def test_stale_entry_gains_time_driven_signal():
    now = timezone.now()
    owner = UserFactory(username="owner-olga", roles=["lead"])
    entry = EntryFactory(
        stage=Stage.AWAITING_HANDOVER,
        handover_due_at=now + timedelta(hours=2),
        owner=owner,
        resolution_method=resolution_method(),
        due_at=now + timedelta(days=3),
    )
    entries_classify([entry], now=now - timedelta(hours=9))
    assert entry.backlog_type == BacklogType.UNCLASSIFIED

    count = entries_reclassify_stale(now=now + timedelta(hours=3), older_than=timedelta(hours=8))

    entry.refresh_from_db()
    assert count == 1
    assert entry.backlog_type == BacklogType.PROCESSING
    assert [reason["signal"] for reason in entry.classification_reasons] == ["handover_late"]


def test_recently_classified_entry_is_left_alone():
    now = timezone.now()
    entry = EntryFactory()
    entries_classify([entry], now=now - timedelta(hours=1))

    count = entries_reclassify_stale(now=now, older_than=timedelta(hours=8))

    assert count == 0


def test_reclassify_batch_takes_least_recent_first():
    now = timezone.now()
    older, newer = EntryFactory(), EntryFactory()
    entries_classify([older], now=now - timedelta(hours=20))
    entries_classify([newer], now=now - timedelta(hours=10))

    count = entries_reclassify_stale(now=now, older_than=timedelta(hours=8), batch_size=1)

    older.refresh_from_db()
    newer.refresh_from_db()
    assert count == 1
    assert older.classified_at == now
    assert newer.classified_at == now - timedelta(hours=10)


def test_reclassify_task_returns_count(settings):
    settings.RECLASSIFY_AFTER_HOURS = 8
    EntryFactory.create_batch(2)

    assert reclassify_stale_entries_task() == 2


def test_reclassify_sees_later_orders_of_same_day(settings):
    settings.CLASSIFICATION = {**settings.CLASSIFICATION, "surge_min_orders": 3, "surge_factor": 2.0}
    day = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=2)
    first = EntryFactory(ordered_at=day, detected_at=day, region="SP")
    entries_record_demand([first])
    entries_classify([first], now=day + timedelta(hours=1))
    later = EntryFactory.create_batch(3, ordered_at=day + timedelta(hours=2), detected_at=day, region="SP")
    assert first.backlog_type == BacklogType.UNCLASSIFIED

    entries_reclassify_stale(now=day + timedelta(hours=20), older_than=timedelta(hours=8))

    first.refresh_from_db()
    assert "region_surge" in [reason["signal"] for reason in first.classification_reasons]
    assert len(later) == 3
