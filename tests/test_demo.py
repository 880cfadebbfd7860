"""Demo data: the generated orders, their import, and a seed that is safe to run twice."""

import csv
import io
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from backlog.models import BacklogEntry, Channel, EntryLine, Stage, Team, TimelineEvent
from backlog.services.demo import (
    DEMO_CHANNELS,
    DEMO_SOURCE,
    DEMO_USERS,
    SURGE_CATEGORY,
    SURGE_DAYS_AGO,
    demo_orders_csv,
    demo_seed,
)
from backlog.services.imports import GenericOptions, import_generic
from triage.models import CycleItem, Shift, TriageCycle
from triage.services.shifts import shift_on_duty

NOW = datetime(2026, 6, 10, 9, 10, tzinfo=UTC)
ORDER_COUNT = 120


@pytest.fixture(autouse=True)
def debug_on(settings):
    # seed_demo refuses to run without DEBUG, and the test runner switches it off.
    settings.DEBUG = True


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


def demo_rows(order_count: int = ORDER_COUNT, seed: int = 7) -> list[dict[str, str]]:
    data = demo_orders_csv(order_count=order_count, seed=seed, now=NOW)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def orders_of(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    orders = defaultdict(list)
    for row in rows:
        orders[row["order_ref"]].append(row)
    return orders


def parsed(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def seed_output(**options) -> str:
    output = StringIO()
    call_command("seed_demo", stdout=output, **options)
    return output.getvalue()


def test_demo_csv_same_seed_gives_same_bytes():
    first = demo_orders_csv(order_count=50, seed=3, now=NOW)
    second = demo_orders_csv(order_count=50, seed=3, now=NOW)
    other_seed = demo_orders_csv(order_count=50, seed=4, now=NOW)

    assert first == second
    assert first != other_seed


def test_demo_csv_has_requested_orders_with_several_lines():
    orders = orders_of(demo_rows())

    assert len(orders) == ORDER_COUNT
    line_counts = Counter(len(lines) for lines in orders.values())
    assert line_counts[1] > 0
    assert sum(count for lines, count in line_counts.items() if lines >= 2) > ORDER_COUNT // 5
    for lines in orders.values():
        skus = [line["sku"] for line in lines]
        assert len(skus) == len(set(skus))


def test_demo_csv_covers_every_channel_and_stage():
    rows = demo_rows()

    assert {row["channel"] for row in rows} == {channel.code for channel in DEMO_CHANNELS}
    assert {row["stage"] for row in rows} == set(Stage.values)


def test_demo_csv_includes_unavailable_items_and_late_handovers():
    orders = orders_of(demo_rows())
    first_rows = [lines[0] for lines in orders.values()]

    unavailable = [row for row in first_rows if row["items_unavailable"] == "true"]
    late_handovers = [
        row
        for row in first_rows
        if row["handover_due_at"]
        and (
            (row["handed_over_at"] and parsed(row["handed_over_at"]) > parsed(row["handover_due_at"]))
            or (not row["handed_over_at"] and parsed(row["handover_due_at"]) < NOW)
        )
    ]
    assert len(unavailable) >= 3
    assert len(late_handovers) >= 3


def test_demo_csv_has_surge_day_for_one_category():
    orders = orders_of(demo_rows())
    surge_day = (NOW - timedelta(days=SURGE_DAYS_AGO)).date()

    per_day = Counter()
    for lines in orders.values():
        if lines[0]["category"] == SURGE_CATEGORY:
            per_day[parsed(lines[0]["ordered_at"]).astimezone(NOW.tzinfo).date()] += 1

    other_days = [count for day, count in per_day.items() if day != surge_day]
    assert per_day[surge_day] >= 5
    assert per_day[surge_day] >= 4 * max(other_days)


def test_demo_csv_times_ordered_and_past():
    for row in demo_rows():
        ordered_at = parsed(row["ordered_at"])
        assert ordered_at <= NOW
        assert ordered_at >= NOW - timedelta(days=40)
        for later in ("approved_at", "handed_over_at", "delivered_at"):
            if row[later]:
                assert ordered_at <= parsed(row[later]) <= NOW


def test_demo_csv_names_include_non_ascii():
    rows = demo_rows()

    assert any(not row["customer_name"].isascii() for row in rows)


def test_demo_csv_emails_are_ascii():
    rows = demo_rows()

    assert all(row["customer_email"].isascii() for row in rows)
    assert all(row["customer_email"].endswith("@example.com") for row in rows)


@pytest.mark.django_db
def test_demo_csv_passes_importer_validation():
    for channel in DEMO_CHANNELS:
        Channel.objects.create(code=channel.code, name=channel.name, high_impact=channel.high_impact)
    data = demo_orders_csv(order_count=ORDER_COUNT, seed=11, now=NOW)

    report = import_generic(data, options=GenericOptions(source=DEMO_SOURCE), now=NOW, dry_run=True)

    assert report.errors == []
    assert report.created == ORDER_COUNT
    assert not BacklogEntry.objects.exists()


@pytest.mark.django_db
def test_seed_demo_prints_user_per_role():
    output = seed_output(entries=40, seed=5)

    User = get_user_model()
    for demo in DEMO_USERS:
        user = User.objects.get(username=demo.username)
        assert user.check_password(demo.password)
        assert list(user.groups.values_list("name", flat=True)) == [demo.role.value]
        assert f"{demo.username:<10} {demo.password:<19} created" in output
    assert User.objects.get(username="admin").is_superuser
    assert not User.objects.get(username="lead").is_staff


@pytest.mark.django_db
def test_seed_demo_creates_channels_and_teams():
    demo_seed(order_count=40, seed=5, now=NOW)

    assert set(Channel.objects.values_list("code", flat=True)) == {channel.code for channel in DEMO_CHANNELS}
    assert Channel.objects.get(code="marketplace").high_impact
    assert Team.objects.count() == 2


@pytest.mark.django_db
def test_seed_demo_shifts_cover_whole_day():
    demo_seed(order_count=40, seed=5, now=NOW)

    lead = get_user_model().objects.get(username="lead")
    for step in range(48):
        moment = NOW + timedelta(minutes=30 * step)
        shift = shift_on_duty(moment)
        assert shift is not None, f"nobody on duty at {moment.isoformat()}"
        assert shift.lead == lead


@pytest.mark.django_db
def test_seed_demo_imports_orders_and_runs_cycle():
    report = demo_seed(order_count=ORDER_COUNT, seed=7, now=NOW)

    assert report.orders.report.created == ORDER_COUNT
    assert BacklogEntry.objects.filter(source=DEMO_SOURCE).count() == ORDER_COUNT
    assert EntryLine.objects.filter(entry__source=DEMO_SOURCE).count() > ORDER_COUNT
    assert report.cycle.ran
    cycle = TriageCycle.objects.get()
    assert cycle.lead.username == "lead"
    assert cycle.support.username == "support"
    assert CycleItem.objects.filter(cycle=cycle).count() == report.cycle.queued > 0


@pytest.mark.django_db
def test_seed_demo_classifies_surge_and_other_types():
    demo_seed(order_count=ORDER_COUNT, seed=7, now=NOW)

    open_entries = BacklogEntry.objects.open().filter(source=DEMO_SOURCE)
    signals = Counter(
        reason["type"] for reasons in open_entries.values_list("classification_reasons", flat=True) for reason in reasons
    )
    assert signals["demand"] > 0
    assert signals["processing"] > 0
    assert signals["allocation"] > 0


@pytest.mark.django_db
def test_seed_demo_twice_duplicates_nothing():
    # given
    models = (get_user_model(), Channel, Team, Shift, BacklogEntry, EntryLine, TimelineEvent, TriageCycle)
    with time_machine.travel(NOW, tick=False):
        seed_output(entries=40, seed=5)
    counts_before = {model.__name__: model.objects.count() for model in models}

    # when
    with time_machine.travel(NOW + timedelta(minutes=10), tick=False):
        output = seed_output(entries=40, seed=5)

    # then
    counts_after = {model.__name__: model.objects.count() for model in models}
    assert counts_after == counts_before
    assert counts_after["BacklogEntry"] == 40
    assert "existing, password unchanged" in output
    assert "Demo orders: 40 entries already loaded; none imported." in output
    assert "already ran; nothing done." in output


@pytest.mark.django_db
def test_seed_demo_same_slot_twice_runs_one_cycle():
    demo_seed(order_count=40, seed=5, now=NOW)
    events_before = TimelineEvent.objects.count()

    second = demo_seed(order_count=40, seed=5, now=NOW + timedelta(minutes=5))

    assert not second.cycle.ran
    assert second.orders.report is None
    assert TriageCycle.objects.count() == 1
    assert TimelineEvent.objects.count() == events_before


@pytest.mark.django_db
def test_seed_demo_keeps_changed_password_and_shift():
    # given: a developer changed the lead's password and moved the early shift
    demo_seed(order_count=20, seed=5, now=NOW)
    lead = get_user_model().objects.get(username="lead")
    lead.set_password("my-own-password")
    lead.save()
    Shift.objects.filter(name="Early").update(support=None)

    # when
    demo_seed(order_count=20, seed=5, now=NOW + timedelta(hours=1))

    # then
    lead.refresh_from_db()
    assert lead.check_password("my-own-password")
    assert Shift.objects.get(name="Early").support is None


@pytest.mark.django_db
@pytest.mark.parametrize("entries", [0, -3, 20_001])
def test_seed_demo_rejects_invalid_entry_count(entries):
    with pytest.raises(CommandError, match="Invalid number of demo orders"):
        seed_output(entries=entries)
    assert not BacklogEntry.objects.exists()


@pytest.mark.django_db
def test_seed_demo_refuses_without_debug(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="runs only with DEBUG on"):
        call_command("seed_demo", stdout=io.StringIO())

    assert not get_user_model().objects.filter(username="admin").exists()
