"""Notices of new escalations: in-app notifications and outbox e-mail, queued with the escalation.

Level 1 notifies the members of the entry's team, level 2 the team's manager, and level 3 sends
support staff one structured notice per high-impact channel. An entry without a team goes to
the leads at level 1, and a team without a manager to the managers at level 2.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.template.loader import render_to_string

from backlog.models import Team, TimelineEvent
from backlog.roles import Role
from comms.models import Notification
from comms.services.outbox import OutboxDraft, outbox_enqueue
from triage.models import Escalation

User = get_user_model()

# How many of an entry's latest triage decisions and status changes a level 3 notice lists.
ACTIONS_PER_ENTRY = 3
# Escalations read per query; keeps the IN lists far below SQLite's parameter limit.
CHUNK_SIZE = 1000
SUBJECT_PREFIX = "[Triage Desk]"


@dataclass(frozen=True)
class NoticeCount:
    notifications: int
    messages: int


def notices_queue(escalation_ids: Sequence[int], *, level: int, now: datetime) -> NoticeCount:
    """Queue the notifications and e-mails of escalations just recorded at one level.

    Call it inside the transaction that inserted the escalations, so notices exist exactly
    when their escalations do. Rows conflicting with an existing idempotency key or
    (recipient, escalation) pair are skipped, so queuing the same escalations twice adds
    nothing. Runs a fixed number of queries per chunk of CHUNK_SIZE escalations.
    """
    total = NoticeCount(0, 0)
    for start in range(0, len(escalation_ids), CHUNK_SIZE):
        count = _queue_chunk(escalation_ids[start : start + CHUNK_SIZE], level=level, now=now)
        total = NoticeCount(total.notifications + count.notifications, total.messages + count.messages)
    return total


def _queue_chunk(escalation_ids: Sequence[int], *, level: int, now: datetime) -> NoticeCount:
    escalations = list(
        Escalation.objects.filter(id__in=escalation_ids)
        .select_related("entry__channel", "entry__team__manager", "entry__owner")
        .order_by("entry__detected_at", "entry_id")
    )
    if level == 1:
        recipients = _team_members(escalations)
    elif level == 2:
        recipients = _team_managers(escalations)
    else:
        support = _users_with_role(Role.SUPPORT)
        recipients = {escalation.pk: support for escalation in escalations}

    notifications = [
        Notification(recipient=user, escalation=escalation, text=_notification_text(escalation), created_at=now)
        for escalation in escalations
        for user in recipients[escalation.pk]
    ]
    Notification.objects.bulk_create(notifications, ignore_conflicts=True)

    if level == 3:
        drafts = _support_notices(escalations, recipients=support, now=now)
    else:
        drafts = [
            _escalation_mail(escalation, user)
            for escalation in escalations
            for user in recipients[escalation.pk]
            if user.email
        ]
    outbox_enqueue(drafts, now=now)
    return NoticeCount(notifications=len(notifications), messages=len(drafts))


def _users_with_role(role: Role) -> list:
    # Superusers hold every role on pages, but only group members get notices, so
    # a developer's superuser account is not mailed about production escalations.
    return list(User.objects.filter(groups__name=role.value, is_active=True).order_by("id"))


def _team_members(escalations: Sequence[Escalation]) -> dict[int, list]:
    team_ids = {escalation.entry.team_id for escalation in escalations if escalation.entry.team_id}
    members = defaultdict(list)
    memberships = (
        Team.members.through.objects.filter(team_id__in=team_ids, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    for membership in memberships:
        members[membership.team_id].append(membership.user)
    leads = _users_with_role(Role.LEAD) if any(not escalation.entry.team_id for escalation in escalations) else []
    return {
        escalation.pk: members[escalation.entry.team_id] if escalation.entry.team_id else leads
        for escalation in escalations
    }


def _team_managers(escalations: Sequence[Escalation]) -> dict[int, list]:
    def manager_of(escalation: Escalation):
        team = escalation.entry.team
        if team is None or team.manager is None or not team.manager.is_active:
            return None
        return team.manager

    managers = _users_with_role(Role.MANAGER) if any(manager_of(e) is None for e in escalations) else []
    return {escalation.pk: [manager_of(escalation)] if manager_of(escalation) else managers for escalation in escalations}


def _notification_text(escalation: Escalation) -> str:
    entry = escalation.entry
    audience = {1: "its team", 2: "the team's manager", 3: "support"}[escalation.level]
    return (
        f"{entry.reference} on {entry.channel.name} reached escalation level {escalation.level}: "
        f"its age passed the cutoff that notifies {audience}."
    )


def _escalation_mail(escalation: Escalation, user) -> OutboxDraft:
    entry = escalation.entry
    context = {"escalation": escalation, "entry": entry, "user": user}
    return OutboxDraft(
        idempotency_key=f"escalation:{escalation.pk}:{user.pk}",
        recipient=user.email,
        recipient_name=user.get_full_name(),
        subject=f"{SUBJECT_PREFIX} {entry.reference} reached escalation level {escalation.level}",
        body_text=render_to_string("comms/escalation_notice.txt", context),
        escalation_id=escalation.pk,
        entry_id=entry.pk,
    )


def _support_notices(escalations: Sequence[Escalation], *, recipients: Sequence, now: datetime) -> list[OutboxDraft]:
    """Build one structured notice per channel and support user, listing the channel's new escalations."""
    actions = _recent_actions(escalation.entry_id for escalation in escalations)
    by_channel: dict[int, list[Escalation]] = defaultdict(list)
    for escalation in escalations:
        by_channel[escalation.entry.channel_id].append(escalation)

    drafts = []
    for channel_escalations in by_channel.values():
        channel = channel_escalations[0].entry.channel
        rows = [
            {
                "escalation": escalation,
                "entry": escalation.entry,
                "age": _hours(now - escalation.entry.detected_at),
                "actions": actions[escalation.entry_id],
            }
            for escalation in channel_escalations
        ]
        context = {"channel": channel, "rows": rows, "oldest_age": max(row["age"] for row in rows), "now": now}
        subject = (
            f"{SUBJECT_PREFIX} {channel.name}: {len(rows)} "
            f"{'entry' if len(rows) == 1 else 'entries'} reached escalation level 3"
        )
        body_text = render_to_string("comms/escalation_support_notice.txt", context)
        body_html = render_to_string("comms/escalation_support_notice.html", context)
        # The lowest escalation ID names this sweep's batch for the channel: it belongs to
        # no other batch, and the same batch queued again gets the same key.
        batch_id = min(escalation.pk for escalation in channel_escalations)
        for user in recipients:
            if not user.email:
                continue
            drafts.append(
                OutboxDraft(
                    idempotency_key=f"escalation-channel:{channel.pk}:{batch_id}:{user.pk}",
                    recipient=user.email,
                    recipient_name=user.get_full_name(),
                    subject=subject,
                    body_text=body_text,
                    body_html=body_html,
                    # NOTE: a channel notice names no single escalation or entry, so delivery
                    # sends it even if some of its entries were resolved after queuing.
                    escalation_id=None,
                    entry_id=None,
                )
            )
    return drafts


def _recent_actions(entry_ids: Iterable[int]) -> dict[int, list[TimelineEvent]]:
    """Return each entry's latest triage decisions and status changes, newest first."""
    events = (
        TimelineEvent.objects.filter(
            entry_id__in=list(entry_ids), kind__in=[TimelineEvent.Kind.ASSIGNED, TimelineEvent.Kind.STATUS]
        )
        .select_related("actor")
        .annotate(rank=Window(RowNumber(), partition_by=[F("entry_id")], order_by=[F("at").desc(), F("id").desc()]))
        .filter(rank__lte=ACTIONS_PER_ENTRY)
        .order_by("entry_id", "rank")
    )
    actions = defaultdict(list)
    for event in events:
        actions[event.entry_id].append(event)
    return actions


def _hours(age: timedelta) -> float:
    return round(age.total_seconds() / 3600, 1)
