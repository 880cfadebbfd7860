"""Re-imports update order facts but leave what staff decided on an entry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backlog.models import BacklogEntry, Status
from backlog.services.entries import TriageDecision, entry_decide, entry_set_status
from backlog.services.imports import GenericOptions, import_generic
from tests.factories import ChannelFactory, resolution_method
from triage.models import EntryPause, EscalationClock, EscalationPolicy
from triage.services.escalations import escalation_sweep

pytestmark = pytest.mark.django_db

FILE = "order_ref,channel,ordered_at,status,note,sku\nRX-1,web,{ordered},open,{note},SKU-1\n"


def import_file(*, note: str, ordered: str = "2026-05-04T09:00") -> None:
    data = FILE.format(ordered=ordered, note=note).encode()
    report = import_generic(data, options=GenericOptions(), now=timezone.now())
    assert report.ok, report.errors


@pytest.fixture(autouse=True)
def web(db):
    return ChannelFactory(code="web", name="Web shop")


def test_reimport_keeps_note_method_and_status(lead):
    import_file(note="from the shop")
    entry = BacklogEntry.objects.get()
    entry = entry_decide(
        entry_id=entry.pk,
        expected_version=entry.version,
        decision=TriageDecision(note="call the carrier", resolution_method=resolution_method()),
        actor=lead,
        now=timezone.now(),
    )
    entry_set_status(entry_id=entry.pk, expected_version=entry.version, status=Status.ON_HOLD, actor=lead, now=timezone.now())

    import_file(note="", ordered="2026-05-04T10:00")

    entry = BacklogEntry.objects.get()
    assert entry.note == "call the carrier"
    assert entry.resolution_method.code == "expedite"
    assert entry.status == Status.ON_HOLD
    assert entry.ordered_at.hour == 8  # 10:00 Berlin summer time is 08:00 UTC


def test_import_closing_held_entry_ends_pause(lead):
    import_file(note="")
    entry = BacklogEntry.objects.get()
    entry_set_status(entry_id=entry.pk, expected_version=entry.version, status=Status.ON_HOLD, actor=lead, now=timezone.now())

    data = b"order_ref,channel,ordered_at,delivered_at,sku\nRX-1,web,2026-05-04T09:00,2026-05-06T09:00,SKU-1\n"
    import_generic(data, options=GenericOptions(), now=timezone.now())

    entry = BacklogEntry.objects.get()
    assert entry.status == Status.CLOSED
    assert EntryPause.objects.get(entry=entry).ended_at is not None


def test_reimport_forgets_escalation_clock():
    EscalationPolicy.objects.create(name="Ladder", level1_minutes=60, level2_minutes=120)
    import_file(note="")
    escalation_sweep(now=timezone.now() - timedelta(days=400))
    assert EscalationClock.objects.count() == 1

    import_file(note="", ordered="2026-05-04T10:00")

    assert EscalationClock.objects.count() == 0


def test_export_of_other_source_is_rejected():
    data = b"reference,source,external_ref,channel\nBL-000001,olist,X9,web\n"

    report = import_generic(data, options=GenericOptions(), now=timezone.now())

    assert not report.ok
    assert report.errors[0].column == "source"
    assert report.errors[0].value == "olist"
    assert BacklogEntry.objects.count() == 0


def test_export_of_same_source_imports():
    data = b"reference,source,external_ref,channel\nBL-000001,generic,X9,web\n"

    report = import_generic(data, options=GenericOptions(), now=timezone.now())

    assert report.ok, report.errors
    assert BacklogEntry.objects.get().external_ref == "X9"
