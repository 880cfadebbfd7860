"""Customer message templates: saving versions, choosing the active one, and rendering it for an entry.

Rendering substitutes values as data (see comms.placeholders): the subject and the plain-text
part take them verbatim, the HTML part takes them escaped. A template that uses a placeholder
with no value yields a HeldMessage naming what is missing, never a message with a blank.
"""

import logging
import re
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django.utils.html import escape

from backlog.models import BacklogEntry, BacklogType, Channel, TimelineEvent
from comms.models import MessageStage, MessageTemplate
from comms.placeholders import PLACEHOLDERS, check_template, placeholders_used, substitute

logger = logging.getLogger(__name__)

# Steps the {{ timeline }} placeholder lists, newest last. Enough to show progress without
# turning an update into an audit log.
TIMELINE_STEPS = 5
# Attempts to claim the next version number when another editor saves the same template at once.
SAVE_ATTEMPTS = 3
DATETIME_FORMAT = "%d %b %Y, %H:%M"
# CR and LF, plus the other characters str.splitlines() treats as line boundaries.
LINE_BREAKS = re.compile("[\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")


@dataclass(frozen=True)
class RenderedMessage:
    """A customer update ready to queue in the outbox."""

    subject: str
    body_text: str
    body_html: str
    template_id: int | None
    template_version: int | None


@dataclass(frozen=True)
class HeldMessage:
    """An update that cannot be sent yet, because placeholders it uses have no value."""

    missing: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"missing: {', '.join(self.missing)}"


def template_save(
    *,
    backlog_type: str,
    stage: str,
    channel: Channel | None,
    subject: str,
    body_text: str,
    body_html: str = "",
    actor: AbstractBaseUser | None,
    now: datetime,
) -> MessageTemplate:
    """Validate the texts and store them as the next version of the (type, stage, channel) template.

    Raises TemplateSyntaxProblem (a ValueError) when a text contains anything but allowed placeholders.
    """
    for source in (subject, body_text, body_html):
        check_template(source)

    attempt = 1
    while True:
        try:
            with transaction.atomic():
                template = MessageTemplate.objects.create(
                    backlog_type=backlog_type,
                    stage=stage,
                    channel=channel,
                    version=_next_version(backlog_type, stage, channel),
                    subject=subject,
                    body_text=body_text,
                    body_html=body_html,
                    created_by=actor if actor is not None and actor.is_authenticated else None,
                    created_at=now,
                )
            break
        except IntegrityError:
            # Another editor took this version number between our read and insert.
            if attempt >= SAVE_ATTEMPTS:
                raise
            attempt += 1

    logger.info(
        "Message template %s/%s channel %s saved as version %d by user %s",
        backlog_type,
        stage,
        channel.pk if channel else "any",
        template.version,
        template.created_by_id,
    )
    return template


def _next_version(backlog_type: str, stage: str, channel: Channel | None) -> int:
    latest = MessageTemplate.objects.filter(backlog_type=backlog_type, stage=stage, channel=channel).aggregate(
        latest=Max("version")
    )["latest"]
    return (latest or 0) + 1


def template_for(entry: BacklogEntry, stage: str) -> MessageTemplate | None:
    """Return the active template for the entry's type and channel at `stage`, or None.

    A template for the entry's own channel wins over the any-channel one.
    """
    return (
        MessageTemplate.objects.filter(backlog_type=entry.backlog_type, stage=stage)
        .filter(Q(channel_id=entry.channel_id) | Q(channel__isnull=True))
        .order_by(F("channel").asc(nulls_last=True), "-version")
        .first()
    )


def active_templates() -> list[MessageTemplate]:
    """Return the active version of every (type, stage, channel) template, in editor order."""
    latest = MessageTemplate.objects.values("backlog_type", "stage", "channel").annotate(latest=Max("version"))
    wanted = Q(pk__in=[])
    for row in latest:
        wanted |= Q(backlog_type=row["backlog_type"], stage=row["stage"], channel=row["channel"], version=row["latest"])
    return list(MessageTemplate.objects.filter(wanted).select_related("channel", "created_by"))


def placeholder_values(
    entry: BacklogEntry,
    *,
    now: datetime,
    next_update_at: datetime | None = None,
    timeline: str | None = None,
) -> dict[str, str]:
    """Return the text of every placeholder for `entry`, with "" where the entry has no value yet.

    `next_update_at` is the caller's promise of the next update, so it has no value unless given.
    A caller rendering many entries passes `timeline` it read for all of them at once.
    """
    if timeline is None:
        timeline = _timeline_text(entry) if entry.pk else ""
    return {
        "customer_name": entry.customer_name.strip(),
        "reference": entry.reference if entry.pk else "",
        "order_reference": entry.external_ref.strip(),
        "eta": _format_moment(entry.due_at),
        "next_update_at": _format_moment(next_update_at),
        "timeline": timeline,
        "support_contact": getattr(settings, "CUSTOMER_SUPPORT_CONTACT", "").strip(),
    }


def render_update(
    template: MessageTemplate,
    entry: BacklogEntry,
    *,
    now: datetime,
    next_update_at: datetime | None = None,
    timeline: str | None = None,
) -> RenderedMessage | HeldMessage:
    """Render `template` for `entry`, or hold it when a placeholder it uses has no value.

    The template may be unsaved (the editor's preview renders one); its texts must be valid.
    """
    sources = (template.subject, template.body_text, template.body_html)
    for source in sources:
        check_template(source)

    values = placeholder_values(entry, now=now, next_update_at=next_update_at, timeline=timeline)
    used = placeholders_used("\n".join(sources))
    missing = tuple(name for name in used if not values[name])
    if missing:
        return HeldMessage(missing=missing)

    return RenderedMessage(
        subject=_single_line(substitute(template.subject, values)),
        body_text=substitute(template.body_text, values),
        body_html=substitute(template.body_html, values, convert=_html_value),
        template_id=template.pk,
        template_version=template.version,
    )


def _html_value(value: str) -> str:
    # Escape first, so the line breaks added afterwards are the only markup a value brings.
    return escape(value).replace("\n", "<br>\n")


def _single_line(subject: str) -> str:
    """Replace each run of line breaks with one space, so no value can add a header to the e-mail."""
    return LINE_BREAKS.sub(" ", subject).strip()


def _format_moment(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment).strftime(DATETIME_FORMAT)


# Timeline kinds a customer may see: the order's own progress. Escalations, triage queueing,
# classification and contacts are internal.
CUSTOMER_VISIBLE_KINDS = (
    TimelineEvent.Kind.CREATED,
    TimelineEvent.Kind.UPDATED,
    TimelineEvent.Kind.ASSIGNED,
    TimelineEvent.Kind.STATUS,
)


def _timeline_text(entry: BacklogEntry) -> str:
    """List the entry's latest customer-visible steps as "- <time>: <kind>", without reasons or values."""
    events = list(
        entry.events.filter(kind__in=CUSTOMER_VISIBLE_KINDS).order_by("-at", "-id")[:TIMELINE_STEPS]
    )
    return format_timeline(reversed(events))


def format_timeline(events) -> str:
    """Write timeline events, oldest first, as the {{ timeline }} placeholder shows them."""
    return "\n".join(f"- {_format_moment(event.at)}: {event.get_kind_display()}" for event in events)


DEFAULT_SUBJECTS = {
    MessageStage.INTAKE: "Update on your order {{ order_reference }}",
    MessageStage.MIDPOINT: "Progress on your order {{ order_reference }}",
    MessageStage.FINAL: "Your order {{ order_reference }}: expected by {{ eta }}",
}
DEFAULT_CAUSES = {
    BacklogType.DEMAND: "More orders than usual reached us at once, so yours is waiting in a longer queue.",
    BacklogType.ALLOCATION: "The stock for your order is being moved to the location that ships it.",
    BacklogType.PROCESSING: "Your order is taking longer than planned in our warehouse.",
    BacklogType.MIXED: "Several things slowed your order down, and we are working on each of them.",
    BacklogType.UNCLASSIFIED: "Your order is taking longer than we promised.",
}
DEFAULT_STAGE_TEXTS = {
    MessageStage.INTAKE: "We expect to resolve this by {{ eta }}.",
    MessageStage.MIDPOINT: "We are still on it and expect to resolve this by {{ eta }}.\n\nWhat happened so far:\n{{ timeline }}",
    MessageStage.FINAL: "We expect your order to be on its way by {{ eta }}.",
}


def default_body_text(backlog_type: str, stage: str) -> str:
    return (
        "Hello {{ customer_name }},\n\n"
        f"{DEFAULT_CAUSES[backlog_type]} {DEFAULT_STAGE_TEXTS[stage]}\n\n"
        "Your reference: {{ reference }}. Questions? {{ support_contact }}\n"
    )


def default_templates_ensure(*, now: datetime) -> int:
    """Create version 1 of an any-channel template for every type and stage without one, and return the count.

    Safe to run twice or at once on several workers: existing templates are left alone and a
    concurrent insert of the same version is ignored by the unique constraints.
    """
    existing = set(
        MessageTemplate.objects.filter(channel__isnull=True).values_list("backlog_type", "stage").distinct()
    )
    rows = [
        MessageTemplate(
            backlog_type=backlog_type,
            stage=stage,
            channel=None,
            version=1,
            subject=DEFAULT_SUBJECTS[stage],
            body_text=default_body_text(backlog_type, stage),
            created_at=now,
        )
        for backlog_type in BacklogType.values
        for stage in MessageStage.values
        if (backlog_type, stage) not in existing
    ]
    MessageTemplate.objects.bulk_create(rows, ignore_conflicts=True)
    if rows:
        logger.info("Created %d default message templates", len(rows))
    return len(rows)

