"""The periodic re-classification keeps time-driven signals current for entries nobody queues."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backlog.models import BacklogType, Stage
from backlog.services.classifying import entries_classify, entries_reclassify_stale
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
