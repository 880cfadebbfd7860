"""Escalation notices: the recipients of each level, queued once, and the in-app notification page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import include, path, reverse

from backlog.models import Status, TimelineEvent
from comms.models import Notification, OutboxMessage, message_id_for
from config.urls import urlpatterns as project_urlpatterns
from tests.factories import ChannelFactory, EntryFactory, TeamFactory, UserFactory
from triage.models import Escalation, EscalationPolicy
from triage.services.escalations import escalation_sweep
from triage.services.notices import notices_queue

pytestmark = pytest.mark.django_db

# The project's URLs plus the notification pages, so these tests run before config/urls.py
# includes them. Once it does, the first match wins and serves the same views.
urlpatterns = [*project_urlpatterns, path("notifications/", include("triage.urls_notifications"))]

DETECTED = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
AFTER_LEVEL1 = DETECTED + timedelta(minutes=61)
AFTER_LEVEL2 = DETECTED + timedelta(minutes=121)
AFTER_LEVEL3 = DETECTED + timedelta(minutes=181)


@pytest.fixture
def policy(db):
    return EscalationPolicy.objects.create(
        name="Hourly ladder", level1_minutes=60, level2_minutes=120, level3_minutes=180
    )


@pytest.fixture
def team(db):
    team = TeamFactory(name="Fulfilment", manager=UserFactory(username="mgr-maria", first_name="Maria"))
    team.members.add(
        UserFactory(username="member-ali", first_name="Ali"),
        UserFactory(username="member-bea", first_name="Bea"),
    )
    return team


@pytest.fixture
def high_impact(db):
    return ChannelFactory(code="marketplace", name="Marketplace", high_impact=True)


def keys_of(level: int) -> set[str]:
    return set(
        OutboxMessage.objects.filter(escalation__level=level).values_list("idempotency_key", flat=True)
    )


def recipients_of(level: int) -> set[str]:
    return set(OutboxMessage.objects.filter(escalation__level=level).values_list("recipient", flat=True))


def test_level1_notifies_each_team_member(policy, team):
    entry = EntryFactory(detected_at=DETECTED, team=team)

    escalation_sweep(now=AFTER_LEVEL1)

    escalation = Escalation.objects.get(entry=entry, level=1)
    members = list(team.members.order_by("id"))
    assert keys_of(1) == {f"escalation:{escalation.pk}:{member.pk}" for member in members}
    assert recipients_of(1) == {"member-ali@example.test", "member-bea@example.test"}
    assert set(Notification.objects.values_list("recipient__username", flat=True)) == {"member-ali", "member-bea"}
    message = OutboxMessage.objects.get(recipient="member-ali@example.test")
    assert message.entry_id == entry.pk
    assert message.status == OutboxMessage.Status.QUEUED
    assert message.next_attempt_at == AFTER_LEVEL1
    assert message.message_id == message_id_for(message.idempotency_key)
    assert message.subject == f"[Triage Desk] {entry.reference} reached escalation level 1"
    assert "Hello Ali," in message.body_text
    assert f"{entry.reference} on Web shop reached escalation level 1" in message.body_text


def test_second_sweep_queues_nothing(policy, team):
    EntryFactory(detected_at=DETECTED, team=team)
    escalation_sweep(now=AFTER_LEVEL1)

    escalation_sweep(now=AFTER_LEVEL1 + timedelta(minutes=5))

    assert OutboxMessage.objects.count() == 2
    assert Notification.objects.count() == 2


def test_requeue_of_same_escalations_adds_nothing(policy, team):
    entry = EntryFactory(detected_at=DETECTED, team=team)
    escalation_sweep(now=AFTER_LEVEL1)
    escalation = Escalation.objects.get(entry=entry, level=1)

    notices_queue([escalation.pk], level=1, now=AFTER_LEVEL1 + timedelta(minutes=1))

    assert OutboxMessage.objects.count() == 2
    assert Notification.objects.count() == 2


def test_level1_without_team_notifies_leads(policy, lead):
    UserFactory(username="support-only", roles=["support"])
    EntryFactory(detected_at=DETECTED, team=None)

    escalation_sweep(now=AFTER_LEVEL1)

    assert recipients_of(1) == {lead.email}


def test_member_without_email_gets_only_notification(policy, team):
    team.members.update(email="")
    EntryFactory(detected_at=DETECTED, team=team)

    escalation_sweep(now=AFTER_LEVEL1)

    assert OutboxMessage.objects.count() == 0
    assert Notification.objects.count() == 2


def test_level2_notifies_team_manager(policy, team, manager):
    entry = EntryFactory(detected_at=DETECTED, team=team)
    escalation_sweep(now=AFTER_LEVEL1)

    escalation_sweep(now=AFTER_LEVEL2)

    escalation = Escalation.objects.get(entry=entry, level=2)
    assert keys_of(2) == {f"escalation:{escalation.pk}:{team.manager.pk}"}
    assert recipients_of(2) == {"mgr-maria@example.test"}
    assert Notification.objects.get(escalation=escalation).recipient == team.manager


def test_level2_without_manager_notifies_managers(policy, team, manager):
    team.manager = None
    team.save()
    EntryFactory(detected_at=DETECTED, team=team)

    escalation_sweep(now=AFTER_LEVEL2)

    assert recipients_of(2) == {manager.email}


def test_level3_notice_lists_channel_entries(policy, team, support, high_impact):
    older = EntryFactory(detected_at=DETECTED - timedelta(hours=2), team=team, channel=high_impact)
    newer = EntryFactory(detected_at=DETECTED, team=team, channel=high_impact, due_at=datetime(2026, 5, 6, 10, tzinfo=UTC))
    other_channel = EntryFactory(detected_at=DETECTED, team=team, channel=ChannelFactory(code="stores", high_impact=True))
    not_high_impact = EntryFactory(detected_at=DETECTED, team=team)
    TimelineEvent.objects.create(
        entry=newer,
        at=DETECTED + timedelta(minutes=30),
        kind=TimelineEvent.Kind.ASSIGNED,
        changes={"due_at": {"old": None, "new": "2026-05-06T10:00:00+00:00"}},
        reason="Supplier confirmed the date.",
    )
    TimelineEvent.objects.create(
        entry=newer,
        at=DETECTED + timedelta(minutes=40),
        kind=TimelineEvent.Kind.STATUS,
        changes={"status": {"old": "on_hold", "new": "open"}},
    )

    escalation_sweep(now=AFTER_LEVEL3)

    level3 = OutboxMessage.objects.filter(idempotency_key__startswith="escalation-channel:")
    assert level3.count() == 2, "one notice per high-impact channel for the one support user"
    notice = level3.get(subject__contains="Marketplace")
    assert notice.recipient == support.email
    assert notice.subject == "[Triage Desk] Marketplace: 2 entries reached escalation level 3"
    body = notice.body_text
    assert "Channel:          Marketplace (high impact)" in body
    assert "Entries affected: 2" in body
    assert "Oldest age:       5.0 hours" in body
    assert body.index(older.reference) < body.index(newer.reference), "oldest entry first"
    assert other_channel.reference not in body
    assert "ETA:   2026-05-06 12:00 CEST" in body
    assert "triage decision: ETA — -> 2026-05-06 12:00 (Supplier confirmed the date.)" in body
    assert "status changed: status on_hold -> open" in body
    assert body.index("status changed") < body.index("triage decision"), "newest action first"
    assert "Actions taken: none recorded" in body
    assert "<table>" in notice.body_html
    assert not Escalation.objects.filter(entry=not_high_impact, level=3).exists()


def test_level3_notice_queued_once(policy, support, high_impact):
    EntryFactory(detected_at=DETECTED, channel=high_impact)
    escalation_sweep(now=AFTER_LEVEL3)
    before = OutboxMessage.objects.count()

    escalation_sweep(now=AFTER_LEVEL3 + timedelta(minutes=5))

    assert OutboxMessage.objects.count() == before


def test_notice_queries_do_not_grow_with_escalations(policy, team):
    def queries_for(count: int) -> int:
        entries = [EntryFactory(detected_at=DETECTED, team=team) for _ in range(count)]
        escalation_ids = [
            Escalation.objects.create(entry=entry, level=1, due_at=DETECTED, fired_at=AFTER_LEVEL1).pk
            for entry in entries
        ]
        with CaptureQueriesContext(connection) as context:
            notices_queue(escalation_ids, level=1, now=AFTER_LEVEL1)
        return len(context.captured_queries)

    assert queries_for(2) == queries_for(6)


# The notification page.


def give_role(user, role: str) -> None:
    user.groups.add(Group.objects.get(name=role))


@pytest.fixture
def notifications(policy, team, lead):
    """Two notifications for Ali (one read) and one for Bea."""
    ali = team.members.get(username="member-ali")
    first = EntryFactory(detected_at=DETECTED, team=team)
    second = EntryFactory(detected_at=DETECTED, team=team)
    escalation_sweep(now=AFTER_LEVEL1)
    Notification.objects.filter(recipient=ali, escalation__entry=first).update(read_at=AFTER_LEVEL1)
    Notification.objects.filter(recipient__username="member-bea", escalation__entry=first).delete()
    return {"ali": ali, "first": first, "second": second}


@pytest.mark.urls("tests.test_notices")
def test_notification_page_lists_unread_first(client, notifications):
    ali = notifications["ali"]
    give_role(ali, "support")
    client.force_login(ali)

    response = client.get(reverse("notification-list"))

    assert response.status_code == 200
    listed = list(response.context["page"].object_list)
    assert [item.escalation.entry for item in listed] == [notifications["second"], notifications["first"]]
    assert response.context["unread"] == 1
    assert b"Mark read" in response.content


@pytest.mark.urls("tests.test_notices")
def test_user_sees_only_own_notifications(client, notifications):
    bea = UserFactory(username="member-bea", roles=["lead"])
    client.force_login(bea)

    response = client.get(reverse("notification-list"))

    listed = list(response.context["page"].object_list)
    assert [item.recipient for item in listed] == [bea]
    assert notifications["first"].reference not in response.content.decode()


@pytest.mark.urls("tests.test_notices")
def test_mark_read_changes_own_notification(client, notifications):
    ali = notifications["ali"]
    give_role(ali, "support")
    unread = Notification.objects.get(recipient=ali, read_at__isnull=True)
    client.force_login(ali)

    response = client.post(reverse("notification-read", args=[unread.pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse("notification-list")
    unread.refresh_from_db()
    assert unread.read_at is not None


@pytest.mark.urls("tests.test_notices")
def test_mark_read_ignores_other_users_notification(client, notifications, lead):
    foreign = Notification.objects.get(recipient__username="member-bea")
    client.force_login(lead)

    client.post(reverse("notification-read", args=[foreign.pk]))

    foreign.refresh_from_db()
    assert foreign.read_at is None


@pytest.mark.urls("tests.test_notices")
def test_mark_read_rejects_get(client, lead):
    client.force_login(lead)

    response = client.get(reverse("notification-read", args=[1]))

    assert response.status_code == 405


@pytest.mark.urls("tests.test_notices")
def test_notification_page_needs_role(client, no_role_user):
    client.force_login(no_role_user)

    response = client.get(reverse("notification-list"))

    assert response.status_code == 403


@pytest.mark.urls("tests.test_notices")
def test_notification_page_needs_sign_in(client):
    response = client.get(reverse("notification-list"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]
