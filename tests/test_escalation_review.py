"""The managers' escalation review: roles, the actions and their timeline events, and query counts."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from backlog.models import TimelineEvent
from backlog.services.entries import TriageDecision, entry_decide
from tests.factories import ChannelFactory, EntryFactory, TeamFactory
from triage.models import CapacityFlag, Escalation, EscalationComment
from triage.selectors import escalation_badges
from triage.services.review import EscalationStateError, escalation_acknowledge, escalation_resolve

pytestmark = pytest.mark.django_db

HTMX_HEADERS = {"HTTP_HX_REQUEST": "true"}
REVIEW_URL = "/triage/escalations/"


def escalate(entry, *, level: int = 1, fired_at=None, status=Escalation.Status.OPEN) -> Escalation:
    fired_at = fired_at or timezone.now() - timedelta(hours=1)
    return Escalation.objects.create(entry=entry, level=level, due_at=fired_at, fired_at=fired_at, status=status)


@pytest.fixture
def team():
    return TeamFactory(name="Fulfilment")


@pytest.fixture
def escalation(team):
    return escalate(EntryFactory(team=team), level=2)


def action_url(name: str, escalation: Escalation) -> str:
    return reverse(f"escalation-{name}", args=[escalation.pk])


def future_local(hours: int) -> str:
    return timezone.localtime(timezone.now() + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def last_event(escalation: Escalation) -> TimelineEvent:
    return escalation.entry.events.order_by("-at", "-id").first()


# Roles

ACTIONS = {
    "acknowledge": {},
    "comment": {"body": "Looking into it."},
    "resolve": {},
    "reassign": {"reason": "x"},
    "eta": {"reason": "x"},
}


def test_review_page_anonymous_goes_to_login(client):
    response = client.get(REVIEW_URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("user_fixture", ["no_role_user", "support"])
def test_review_page_forbidden_without_role(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))

    assert client.get(REVIEW_URL).status_code == 403


def test_review_page_read_only_for_lead(client, lead, escalation):
    client.force_login(lead)

    response = client.get(REVIEW_URL)

    assert response.status_code == 200
    assert escalation.entry.reference in response.content.decode()
    assert b"Read-only" in response.content
    assert action_url("acknowledge", escalation).encode() not in response.content


@pytest.mark.parametrize("user_fixture", ["manager", "admin_user"])
def test_review_page_shows_actions_to_managers(client, request, user_fixture, escalation):
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.get(REVIEW_URL)

    assert response.status_code == 200
    assert action_url("acknowledge", escalation).encode() in response.content
    assert action_url("resolve", escalation).encode() in response.content


@pytest.mark.parametrize("action", list(ACTIONS))
def test_action_anonymous_goes_to_login(client, escalation, action):
    response = client.post(action_url(action, escalation), ACTIONS[action])

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("action", list(ACTIONS))
@pytest.mark.parametrize("user_fixture", ["no_role_user", "support", "lead"])
def test_action_forbidden_below_manager(client, request, escalation, action, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.post(action_url(action, escalation), ACTIONS[action])

    assert response.status_code == 403
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.OPEN
    assert not EscalationComment.objects.exists()


@pytest.mark.parametrize("user_fixture", ["no_role_user", "support", "lead"])
def test_flag_resolve_forbidden_below_manager(client, request, team, user_fixture):
    flag = open_flag(team)
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.post(reverse("capacity-flag-resolve", args=[flag.pk]), {"note": "More staff"})

    assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.is_open


def test_flag_resolve_anonymous_goes_to_login(client, team):
    flag = open_flag(team)

    response = client.post(reverse("capacity-flag-resolve", args=[flag.pk]), {"note": "More staff"})

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


# Actions


def test_acknowledge_records_actor_and_reason(client, manager, escalation):
    client.force_login(manager)

    response = client.post(action_url("acknowledge", escalation), {"note": "On it"}, **HTMX_HEADERS)

    assert response.status_code == 200
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.ACKNOWLEDGED
    assert escalation.acknowledged_by == manager
    event = last_event(escalation)
    assert event.kind == TimelineEvent.Kind.ESCALATED
    assert event.actor == manager
    assert event.reason == "On it"
    assert event.changes == {"level_2_escalation": {"old": "open", "new": "acknowledged"}}


def test_acknowledge_twice_is_conflict(client, manager, admin_user, escalation):
    escalation_acknowledge(escalation_id=escalation.pk, actor=admin_user, now=timezone.now())
    client.force_login(manager)

    response = client.post(action_url("acknowledge", escalation), {}, **HTMX_HEADERS)

    assert response.status_code == 409
    assert "already acknowledged by admin-dev" in response.content.decode()


def test_comment_records_thread_and_timeline(client, manager, escalation):
    client.force_login(manager)

    response = client.post(action_url("comment", escalation), {"body": "Supplier called back."}, **HTMX_HEADERS)

    assert response.status_code == 200
    comment = EscalationComment.objects.get()
    assert comment.author == manager
    assert comment.body == "Supplier called back."
    assert "Supplier called back." in response.content.decode()
    event = last_event(escalation)
    assert event.actor == manager
    assert event.reason == f"Comment on the level 2 escalation of {escalation.entry.reference}: Supplier called back."


def test_empty_comment_is_invalid(client, manager, escalation):
    client.force_login(manager)

    response = client.post(action_url("comment", escalation), {"body": "  "}, **HTMX_HEADERS)

    assert response.status_code == 422
    assert not EscalationComment.objects.exists()


def test_reassign_goes_through_entry_decide(client, manager, lead, escalation):
    client.force_login(manager)
    entry = escalation.entry

    response = client.post(
        action_url("reassign", escalation),
        {"owner": lead.pk, "version": entry.version, "reason": "Anna knows the supplier"},
        **HTMX_HEADERS,
    )

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.owner == lead
    assert entry.version == 2
    event = last_event(escalation)
    assert event.kind == TimelineEvent.Kind.ASSIGNED
    assert event.actor == manager
    assert event.reason == "Anna knows the supplier"
    assert "owner" in event.changes


def test_reassign_stale_version_is_conflict(client, manager, lead, support, escalation):
    entry = escalation.entry
    entry_decide(
        entry_id=entry.pk, expected_version=1, decision=TriageDecision(owner=support), actor=lead, now=timezone.now()
    )
    client.force_login(manager)

    response = client.post(
        action_url("reassign", escalation), {"owner": manager.pk, "version": 1, "reason": "x"}, **HTMX_HEADERS
    )

    assert response.status_code == 409
    body = response.content.decode()
    assert f"{entry.reference} was changed by Anna" in body
    assert "The row now shows their values." in body
    entry.refresh_from_db()
    assert entry.owner == support


def test_reassign_stale_without_htmx_redirects_with_message(client, manager, lead, support, escalation):
    entry = escalation.entry
    entry_decide(
        entry_id=entry.pk, expected_version=1, decision=TriageDecision(owner=support), actor=lead, now=timezone.now()
    )
    client.force_login(manager)

    response = client.post(
        action_url("reassign", escalation), {"owner": manager.pk, "version": 1, "next": REVIEW_URL}, follow=True
    )

    assert response.redirect_chain == [(REVIEW_URL, 303)]
    assert f"{entry.reference} was changed by Anna" in response.content.decode()
    assert "The page now shows their values." in response.content.decode()


def test_change_eta_records_actor_and_reason(client, manager, escalation):
    client.force_login(manager)
    entry = escalation.entry

    response = client.post(
        action_url("eta", escalation),
        {"due_at": future_local(6), "version": entry.version, "reason": "Courier booked"},
        **HTMX_HEADERS,
    )

    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.due_at is not None
    event = last_event(escalation)
    assert event.kind == TimelineEvent.Kind.ASSIGNED
    assert event.actor == manager
    assert event.reason == "Courier booked"
    assert "due_at" in event.changes


def test_change_eta_in_past_is_invalid(client, manager, escalation):
    client.force_login(manager)

    response = client.post(
        action_url("eta", escalation), {"due_at": future_local(-2), "version": 1}, **HTMX_HEADERS
    )

    assert response.status_code == 422
    assert "is in the past" in response.content.decode()


def test_resolve_leaves_entry_open(client, manager, escalation):
    client.force_login(manager)

    response = client.post(action_url("resolve", escalation), {"note": "Stock arrived"}, **HTMX_HEADERS)

    assert response.status_code == 200
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED
    assert escalation.resolved_by == manager
    escalation.entry.refresh_from_db()
    assert escalation.entry.is_open
    event = last_event(escalation)
    assert event.actor == manager
    assert event.reason == "Stock arrived"
    assert event.changes == {"level_2_escalation": {"old": "open", "new": "resolved"}}


def test_resolve_without_htmx_redirects_back(client, manager, escalation):
    client.force_login(manager)
    back = f"{REVIEW_URL}?level=2"

    response = client.post(action_url("resolve", escalation), {"next": back})

    assert response.status_code == 303
    assert response["Location"] == back
    escalation.refresh_from_db()
    assert escalation.status == Escalation.Status.RESOLVED


def test_resolve_twice_raises(manager, escalation):
    escalation_resolve(escalation_id=escalation.pk, actor=manager, now=timezone.now())

    with pytest.raises(EscalationStateError, match="already resolved by Carla"):
        escalation_resolve(escalation_id=escalation.pk, actor=manager, now=timezone.now())


def test_missing_escalation_is_not_found(client, manager):
    client.force_login(manager)

    assert client.post("/triage/escalations/999999/resolve/", {}).status_code == 404


# The review page


def test_review_filters_by_level_team_and_channel(client, manager, team):
    other_team = TeamFactory(name="Returns")
    store = ChannelFactory(code="store", name="Store")
    shown = escalate(EntryFactory(team=team), level=2)
    escalate(EntryFactory(team=team), level=1)
    escalate(EntryFactory(team=other_team), level=2)
    escalate(EntryFactory(team=team, channel=store), level=2)
    client.force_login(manager)

    response = client.get(REVIEW_URL, {"level": 2, "team": team.pk, "channel": "web"})

    assert [row.escalation for row in response.context["rows"]] == [shown]


def test_review_hides_resolved_by_default(client, manager, team):
    escalate(EntryFactory(team=team), status=Escalation.Status.RESOLVED)
    acknowledged = escalate(EntryFactory(team=team), status=Escalation.Status.ACKNOWLEDGED)
    client.force_login(manager)

    response = client.get(REVIEW_URL)

    assert [row.escalation for row in response.context["rows"]] == [acknowledged]


def test_review_ignores_invalid_filter(client, manager, escalation):
    client.force_login(manager)

    response = client.get(REVIEW_URL, {"level": "9", "sort": "age"})

    assert response.context["invalid_filters"] == ["level"]
    assert [row.escalation for row in response.context["rows"]] == [escalation]


def test_review_groups_by_level_highest_first(client, manager, team):
    low = escalate(EntryFactory(team=team), level=1)
    high = escalate(EntryFactory(team=team), level=3)
    client.force_login(manager)

    response = client.get(REVIEW_URL)

    rows = response.context["rows"]
    assert [row.escalation for row in rows] == [high, low]
    assert [row.group for row in rows] == ["Level 3", "Level 1"]


def test_review_shows_open_flags_first(client, manager, team):
    open_flag(team)
    client.force_login(manager)

    response = client.get(REVIEW_URL)

    body = response.content.decode()
    assert "More capacity or tighter rules needed." in body
    assert body.index("Capacity flags") < body.index('id="escalations-heading"')


@pytest.mark.parametrize("count", [5, 50])
def test_review_page_query_count_fixed(client, manager, team, count, django_assert_num_queries):
    channel = ChannelFactory(code="web", name="Web shop")
    for number in range(count):
        entry = EntryFactory(team=team, channel=channel, owner=manager)
        escalation = escalate(entry, level=number % 3 + 1)
        EscalationComment.objects.create(escalation=escalation, author=manager, body="Noted", created_at=timezone.now())
    open_flag(team)
    client.force_login(manager)

    # Session, user, roles, escalations, comments, flags, staff users, teams and channels.
    with django_assert_num_queries(9):
        response = client.get(REVIEW_URL)

    assert len(response.context["rows"]) == count


# Flags


def open_flag(team, *, level: int = 1) -> CapacityFlag:
    now = timezone.now()
    return CapacityFlag.objects.create(
        team=team, level=level, window_start=now - timedelta(days=7), window_end=now, misses=3, created_at=now
    )


def test_flag_resolve_needs_note(client, manager, team):
    flag = open_flag(team)
    client.force_login(manager)

    response = client.post(reverse("capacity-flag-resolve", args=[flag.pk]), {"note": ""}, **HTMX_HEADERS)

    assert response.status_code == 422
    flag.refresh_from_db()
    assert flag.is_open


def test_flag_resolve_closes_with_note(client, manager, team):
    flag = open_flag(team)
    client.force_login(manager)

    response = client.post(reverse("capacity-flag-resolve", args=[flag.pk]), {"note": "Two more packers"})

    assert response.status_code == 303
    flag.refresh_from_db()
    assert flag.resolved_by == manager
    assert flag.note == "Two more packers"


# Badges


def test_badges_count_open_escalations_per_level(team):
    escalate(EntryFactory(team=team), level=1)
    escalate(EntryFactory(team=team), level=1)
    escalate(EntryFactory(team=team), level=3)
    escalate(EntryFactory(team=team), level=2, status=Escalation.Status.ACKNOWLEDGED)

    assert escalation_badges(now=timezone.now()) == {"level1": 2, "level2": 0, "level3": 1, "warning": 0}


def test_badges_count_entries_in_warning(django_assert_num_queries):
    from triage.models import EscalationClock

    now = timezone.now()
    warned = EntryFactory()
    EscalationClock.objects.create(
        entry=warned, level1_due_at=now + timedelta(hours=1), warning_at=now - timedelta(minutes=5), computed_at=now
    )
    not_yet = EntryFactory()
    EscalationClock.objects.create(
        entry=not_yet, level1_due_at=now + timedelta(hours=3), warning_at=now + timedelta(hours=1), computed_at=now
    )

    with django_assert_num_queries(1):
        badges = escalation_badges(now=now)

    assert badges["warning"] == 1


@pytest.mark.django_db(transaction=True)
def test_two_managers_acknowledge_once(uses_postgres, manager, admin_user, team):
    escalation = escalate(EntryFactory(team=team))
    barrier = threading.Barrier(2)
    outcomes = []

    def acknowledge(actor) -> None:
        try:
            barrier.wait()
            escalation_acknowledge(escalation_id=escalation.pk, actor=actor, now=timezone.now())
            outcomes.append("acknowledged")
        except EscalationStateError:
            outcomes.append("rejected")
        finally:
            connection.close()

    threads = [threading.Thread(target=acknowledge, args=(actor,)) for actor in (manager, admin_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["acknowledged", "rejected"]
    assert escalation.entry.events.filter(kind=TimelineEvent.Kind.ESCALATED).count() == 1
