"""Capacity flags: teams that keep missing the same cutoff within the rolling window."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection

from tests.factories import EntryFactory, TeamFactory, UserFactory
from triage.models import CapacityFlag, Escalation
from triage.services.capacity import CapacityFlagResolvedError, capacity_flag_resolve, capacity_flags_update

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 5, 14, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def flag_settings(settings):
    settings.CAPACITY_FLAG_MISSES = 3
    settings.CAPACITY_FLAG_WINDOW_DAYS = 7


@pytest.fixture
def team():
    return TeamFactory(name="Fulfilment")


def miss(team, *, level: int = 1, at: datetime) -> Escalation:
    return Escalation.objects.create(entry=EntryFactory(team=team), level=level, due_at=at, fired_at=at)


def open_flags():
    return list(CapacityFlag.objects.filter(resolved_at__isnull=True))


def test_three_misses_in_window_raise_one_flag(team):
    for days_ago in (6, 3, 1):
        miss(team, at=NOW - timedelta(days=days_ago))

    created = capacity_flags_update(now=NOW)

    assert created == 1
    [flag] = open_flags()
    assert (flag.team, flag.level, flag.misses) == (team, 1, 3)
    assert flag.window_start == NOW - timedelta(days=7)
    assert flag.window_end == NOW


def test_second_update_keeps_one_flag(team):
    for days_ago in (6, 3, 1):
        miss(team, at=NOW - timedelta(days=days_ago))
    capacity_flags_update(now=NOW)

    created = capacity_flags_update(now=NOW + timedelta(minutes=5))

    assert created == 0
    assert len(open_flags()) == 1


def test_fourth_miss_keeps_one_open_flag(team):
    for days_ago in (6, 3, 1):
        miss(team, at=NOW - timedelta(days=days_ago))
    capacity_flags_update(now=NOW)
    miss(team, at=NOW + timedelta(hours=1))

    capacity_flags_update(now=NOW + timedelta(hours=2))

    assert len(open_flags()) == 1


def test_misses_spread_over_more_than_window_raise_none(team):
    for days_ago in (10, 7, 1):
        miss(team, at=NOW - timedelta(days=days_ago))

    assert capacity_flags_update(now=NOW) == 0
    assert open_flags() == []


def test_two_misses_raise_none(team):
    for days_ago in (2, 1):
        miss(team, at=NOW - timedelta(days=days_ago))

    assert capacity_flags_update(now=NOW) == 0


def test_misses_at_different_levels_count_apart(team):
    miss(team, level=1, at=NOW - timedelta(days=2))
    miss(team, level=2, at=NOW - timedelta(days=2))
    miss(team, level=1, at=NOW - timedelta(days=1))

    assert capacity_flags_update(now=NOW) == 0


def test_entries_without_team_are_ignored():
    for days_ago in (3, 2, 1):
        Escalation.objects.create(
            entry=EntryFactory(team=None), level=1, due_at=NOW - timedelta(days=days_ago), fired_at=NOW - timedelta(days=days_ago)
        )

    assert capacity_flags_update(now=NOW) == 0


def test_teams_are_flagged_apart(team):
    other = TeamFactory(name="Returns")
    for days_ago in (3, 2, 1):
        miss(team, at=NOW - timedelta(days=days_ago))
        miss(other, at=NOW - timedelta(days=days_ago))

    assert capacity_flags_update(now=NOW) == 2
    assert {flag.team for flag in open_flags()} == {team, other}


def test_update_runs_two_queries(team, django_assert_num_queries):
    for days_ago in (3, 2, 1):
        miss(team, at=NOW - timedelta(days=days_ago))

    # One grouped SELECT and one INSERT.
    with django_assert_num_queries(2):
        capacity_flags_update(now=NOW)


def test_resolved_flag_waits_for_new_pattern(team):
    manager = UserFactory(username="manager-carla", roles=["manager"])
    for days_ago in (3, 2, 1):
        miss(team, at=NOW - timedelta(days=days_ago))
    capacity_flags_update(now=NOW)
    [flag] = open_flags()

    capacity_flag_resolve(flag_id=flag.pk, actor=manager, now=NOW + timedelta(hours=1), note="Two more packers")
    refreshed_with_old_misses = capacity_flags_update(now=NOW + timedelta(hours=2))
    for hours in (3, 4, 5):
        miss(team, at=NOW + timedelta(hours=hours))
    refreshed_with_new_misses = capacity_flags_update(now=NOW + timedelta(hours=6))

    flag.refresh_from_db()
    assert flag.resolved_by == manager
    assert flag.note == "Two more packers"
    assert refreshed_with_old_misses == 0
    assert refreshed_with_new_misses == 1
    [new_flag] = open_flags()
    assert new_flag.pk != flag.pk
    assert new_flag.misses == 3


def test_resolve_needs_note(team):
    manager = UserFactory(username="manager-carla", roles=["manager"])
    flag = CapacityFlag.objects.create(team=team, level=1, window_start=NOW, window_end=NOW, misses=3, created_at=NOW)

    with pytest.raises(ValueError, match="needs a note"):
        capacity_flag_resolve(flag_id=flag.pk, actor=manager, now=NOW, note="   ")

    flag.refresh_from_db()
    assert flag.is_open


def test_resolve_twice_raises(team):
    manager = UserFactory(username="manager-carla", roles=["manager"])
    flag = CapacityFlag.objects.create(team=team, level=1, window_start=NOW, window_end=NOW, misses=3, created_at=NOW)
    capacity_flag_resolve(flag_id=flag.pk, actor=manager, now=NOW, note="Tighter rules")

    with pytest.raises(CapacityFlagResolvedError, match="already resolved"):
        capacity_flag_resolve(flag_id=flag.pk, actor=manager, now=NOW, note="Again")


def test_one_open_flag_per_team_and_level_enforced(team):
    CapacityFlag.objects.create(team=team, level=1, window_start=NOW, window_end=NOW, misses=3, created_at=NOW)

    with pytest.raises(IntegrityError):
        CapacityFlag.objects.create(team=team, level=1, window_start=NOW, window_end=NOW, misses=4, created_at=NOW)


@pytest.mark.django_db(transaction=True)
def test_two_workers_raise_one_flag(uses_postgres, team):
    for days_ago in (3, 2, 1):
        miss(team, at=NOW - timedelta(days=days_ago))
    barrier = threading.Barrier(2)
    errors = []

    def update() -> None:
        try:
            barrier.wait()
            capacity_flags_update(now=NOW)
        except Exception as error:  # noqa: BLE001 - reported through the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=update) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(open_flags()) == 1
