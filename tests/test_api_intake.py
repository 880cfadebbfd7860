"""Orders and files arriving through the API: idempotent intake and validated imports."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from backlog.models import BacklogEntry, BacklogType, Stage, TimelineEvent
from tests.factories import ChannelFactory, EntryFactory, UserFactory

pytestmark = pytest.mark.django_db

BOM = b"\xef\xbb\xbf"
EXCEL_CSV = (
    "order_ref,sku,qty,eta,backlog_type\r\n"
    "RX-40001,SKU-4471,2,2026-05-12,processing\r\n"
    "RX-40002,SKU-4472,1,2026-05-13,processing\r\n"
    "RX-40003,SKU-4473,5,2026-05-14,allocation\r\n"
).encode()


@pytest.fixture
def api(lead) -> APIClient:
    client = APIClient()
    client.force_authenticate(lead)
    return client


@pytest.fixture
def web(db):
    return ChannelFactory(code="web", name="Web shop")


# Fixed to the second, so that sending the same order twice sends the same timestamps.
ORDERED_AT = (timezone.now() - timedelta(days=2)).replace(microsecond=0)


def order(**overrides) -> dict:
    ordered_at = ORDERED_AT
    body = {
        "source": "web-shop",
        "external_ref": "WS-1001",
        "channel": "web",
        "customer_name": "Inês Araújo",
        "customer_email": "ines@example.test",
        "ordered_at": ordered_at.isoformat(),
        "approved_at": (ordered_at + timedelta(hours=1)).isoformat(),
        "handover_due_at": (ordered_at + timedelta(days=1)).isoformat(),
        "lines": [{"sku": "SKU-1", "quantity": 2, "category": "garden"}],
    }
    body.update(overrides)
    return body


def test_intake_creates_classified_entry(api, web):
    response = api.post("/api/entries/", order(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["reference"].startswith("BL-")
    assert body["stage"] == Stage.AWAITING_HANDOVER
    assert body["backlog_type"] == BacklogType.PROCESSING
    assert [reason["signal"] for reason in body["classification_reasons"]] == ["handover_late"]
    assert body["lines"][0]["quantity"] == 2
    assert body["customer_name"] == "Inês Araújo"


def test_intake_twice_changes_nothing(api, web):
    first = api.post("/api/entries/", order(), format="json")
    events_after_first = TimelineEvent.objects.count()

    second = api.post("/api/entries/", order(), format="json")

    assert first.status_code == 201
    assert second.status_code == 200
    assert BacklogEntry.objects.count() == 1
    assert TimelineEvent.objects.count() == events_after_first
    assert second.json()["version"] == first.json()["version"]


def test_intake_update_logs_change(api, web):
    api.post("/api/entries/", order(), format="json")
    handed_over = timezone.now() - timedelta(hours=3)

    response = api.post("/api/entries/", order(handed_over_at=handed_over.isoformat()), format="json")

    assert response.status_code == 200
    assert response.json()["stage"] == Stage.IN_TRANSIT
    event = TimelineEvent.objects.filter(kind=TimelineEvent.Kind.UPDATED).get()
    assert "handed_over_at" in event.changes
    assert event.actor.username == "lead-anna"


def test_intake_keeps_lead_decision(api, web, support):
    created = api.post("/api/entries/", order(), format="json").json()
    api.patch(f"/api/entries/{created['id']}/", {"version": created["version"], "owner": support.username}, format="json")

    api.post("/api/entries/", order(customer_name="Inês Araújo-Silva"), format="json")

    entry = BacklogEntry.objects.get(pk=created["id"])
    assert entry.owner == support
    assert entry.customer_name == "Inês Araújo-Silva"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"channel": "no-such-channel"}, "channel"),
        ({"ordered_at": "30/11/2017"}, "ordered_at"),
        ({"customer_email": "not-an-address"}, "customer_email"),
        ({"lines": [{"sku": "A", "quantity": 0}]}, "lines"),
        ({"lines": [{"sku": "A"}, {"sku": "A"}]}, "lines"),
        ({"stage": "teleported"}, "stage"),
    ],
)
def test_intake_rejects_invalid_field(api, web, overrides, field):
    response = api.post("/api/entries/", order(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert BacklogEntry.objects.count() == 0


def test_intake_needs_triage_role(support, web):
    client = APIClient()
    client.force_authenticate(support)

    response = client.post("/api/entries/", order(), format="json")

    assert response.status_code == 403


def test_list_filters_by_channel(api, web):
    store = ChannelFactory(code="store", name="Store pick-up")
    EntryFactory(channel=web)
    in_store = EntryFactory(channel=store)

    response = api.get("/api/entries/?channel=store")

    assert [row["id"] for row in response.json()["results"]] == [in_store.pk]


@pytest.mark.parametrize("content", [BOM + EXCEL_CSV, EXCEL_CSV], ids=["with-bom", "without-bom"])
def test_import_endpoint_reads_excel_csv(api, web, content):
    upload = SimpleUploadedFile("orders.csv", content, content_type="text/csv")

    response = api.post("/api/imports/", {"file": upload, "channel": "web"}, format="multipart")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["created"], body["errors"]) == (3, [])
    assert "backlog_type" in body["ignored_columns"]
    refs = sorted(BacklogEntry.objects.values_list("external_ref", flat=True))
    assert refs == ["RX-40001", "RX-40002", "RX-40003"]


def test_import_endpoint_dry_run_writes_nothing(api, web):
    upload = SimpleUploadedFile("orders.csv", EXCEL_CSV, content_type="text/csv")

    response = api.post("/api/imports/", {"file": upload, "channel": "web", "dry_run": "true"}, format="multipart")

    assert response.status_code == 200
    assert response.json()["created"] == 3
    assert BacklogEntry.objects.count() == 0


def test_import_endpoint_reports_bad_row(api, web):
    content = b"order_ref,sku,qty,ordered_at\nRX-1,SKU-1,2,2026-05-12\nRX-2,SKU-2,two,2026-05-12\n"
    upload = SimpleUploadedFile("orders.csv", content, content_type="text/csv")

    response = api.post("/api/imports/", {"file": upload, "channel": "web"}, format="multipart")

    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert (error["row"], error["column"], error["value"]) == (3, "qty", "two")
    assert BacklogEntry.objects.count() == 0


def test_import_endpoint_needs_import_role(manager, web):
    client = APIClient()
    client.force_authenticate(manager)
    upload = SimpleUploadedFile("orders.csv", EXCEL_CSV, content_type="text/csv")

    response = client.post("/api/imports/", {"file": upload, "channel": "web"}, format="multipart")

    assert response.status_code == 403


def test_import_endpoint_requires_file(api):
    response = api.post("/api/imports/", {"channel": "web"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"ordered_at": "0001-01-01T00:00:00Z"}, "ordered_at"),
        ({"ordered_at": "2099-01-01T00:00:00Z"}, "ordered_at"),
        ({"lines": [{"sku": "A", "quantity": 99999999999999999999999}]}, "lines"),
        ({"lines": [{"sku": "A", "quantity": 2_147_483_648}]}, "lines"),
        ({"delivered_at": "2000-01-01T00:00:00Z"}, "delivered_at"),
    ],
    ids=["year-one", "future", "huge-quantity", "quantity-over-int", "delivered-before-order"],
)
def test_intake_rejects_out_of_range(api, web, overrides, field):
    response = api.post("/api/entries/", order(**overrides), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert BacklogEntry.objects.count() == 0


def test_intake_rejects_delivery_before_handover(api, web):
    handed_over = ORDERED_AT + timedelta(days=1)
    body = order(handed_over_at=handed_over.isoformat(), delivered_at=(handed_over - timedelta(hours=1)).isoformat())

    response = api.post("/api/entries/", body, format="json")

    assert response.status_code == 400
    assert "before handed_over_at" in response.json()["delivered_at"][0]
