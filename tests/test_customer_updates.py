"""Customer updates: sending a stage through the outbox, holding, re-sending, the entry page and the cadence."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.template import Context, Template
from django.urls import include, path, reverse
from django.utils import timezone

from backlog.models import Status, TimelineEvent
from backlog.services.entries import TriageDecision, entry_decide
from comms.models import CustomerUpdate, MessageStage, OutboxMessage, message_id_for
from comms.services.outbox import outbox_deliver
from comms.services.templates import default_templates_ensure, template_save
from comms.services.updates import UpdateRejected, update_send, updates_cadence
from comms.tasks_updates import send_customer_updates_task
from config.urls import urlpatterns as project_urlpatterns
from tests.factories import EntryFactory, UserFactory
from tests.test_outbox import smtp_server  # noqa: F401  (the real SMTP server fixture)

# The project's URLs plus the update pages, mounted where config/urls.py is to include them.
urlpatterns = [*project_urlpatterns, path("updates/", include("comms.urls_updates"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=UTC)
ORDERED_AT = datetime(2026, 5, 1, 8, tzinfo=UTC)


@pytest.fixture(autouse=True)
def templates(settings):
    settings.CUSTOMER_SUPPORT_CONTACT = "support@shop.example"
    default_templates_ensure(now=NOW)


def make_entry(**fields):
    fields.setdefault("ordered_at", ORDERED_AT)
    fields.setdefault("detected_at", ORDERED_AT)
    fields.setdefault("due_at", NOW + timedelta(days=2))
    return EntryFactory(**fields)


def send(entry, stage=MessageStage.INTAKE, *, now=NOW, actor=None, reason=""):
    return update_send(entry_id=entry.pk, stage=stage, actor=actor, now=now, resend_reason=reason)


# The service


def test_update_reaches_smtp_server(smtp_server, settings, support):  # noqa: F811
    settings.DEFAULT_FROM_EMAIL = "Triage Desk <desk@example.test>"
    template_save(
        backlog_type="unclassified",
        stage=MessageStage.INTAKE,
        channel=None,
        subject="Pedido {{ order_reference }} de {{ customer_name }}",
        body_text="Olá {{ customer_name }}, previsão {{ eta }}.",
        body_html="<p>Olá {{ customer_name }}</p>",
        actor=None,
        now=NOW,
    )
    entry = make_entry(customer_name="João <b>Ção</b> & Co", customer_email="joao@example.test", external_ref="A-1")

    update = send(entry, actor=support)
    outcome = outbox_deliver(now=NOW)

    assert update.status == CustomerUpdate.Status.QUEUED
    assert update.created_by == support
    assert update.template.version == 2
    assert update.template_version == 2
    assert outcome.sent == 1
    [received] = smtp_server.parsed()
    key = f"update:{entry.pk}:intake:1"
    assert update.outbox_message.idempotency_key == key
    assert received["Message-ID"] == message_id_for(key)
    assert received["To"].addresses[0].addr_spec == "joao@example.test"
    assert received["To"].addresses[0].display_name == "João <b>Ção</b> & Co"
    assert received["Subject"] == "Pedido A-1 de João <b>Ção</b> & Co"
    raw_headers = smtp_server.messages[0].split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii(), "non-ASCII header text is encoded as RFC 2047 words"
    plain = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Olá João <b>Ção</b> & Co, previsão" in plain
    assert "<p>Olá João &lt;b&gt;Ção&lt;/b&gt; &amp; Co</p>" in html
    assert "<b>" not in html
    update.outbox_message.refresh_from_db()
    assert update.outbox_message.status == OutboxMessage.Status.SENT


def test_update_send_writes_timeline_event(support):
    entry = make_entry()

    send(entry, actor=support)

    event = entry.events.get(kind=TimelineEvent.Kind.UPDATED)
    assert event.reason == "Customer update queued: intake"
    assert event.actor == support
    assert event.at == NOW
    assert event.changes == {"intake update": {"old": "", "new": "queued"}}


def test_missing_eta_holds_update():
    entry = make_entry(due_at=None)

    update = send(entry)

    assert update.status == CustomerUpdate.Status.HELD
    assert update.reason == "missing: eta"
    assert update.outbox_message is None
    assert not OutboxMessage.objects.exists()
    event = entry.events.get(kind=TimelineEvent.Kind.UPDATED)
    assert event.reason == "Customer update held: missing eta"


def test_missing_email_holds_update():
    entry = make_entry(customer_email="")

    update = send(entry)

    assert update.status == CustomerUpdate.Status.HELD
    assert update.reason == "missing: customer_email"
    assert not OutboxMessage.objects.exists()


def test_held_update_sends_later_without_reason():
    entry = make_entry(due_at=None)
    held = send(entry)
    entry.due_at = NOW + timedelta(days=1)
    entry.save(update_fields=["due_at"])

    update = send(entry, now=NOW + timedelta(minutes=5))

    assert update.status == CustomerUpdate.Status.QUEUED
    assert update.resend_of == held
    assert update.reason == "the earlier update was held (missing: eta)"
    assert update.outbox_message.idempotency_key == f"update:{entry.pk}:intake:2"


def test_second_send_needs_reason():
    entry = make_entry()
    send(entry)

    with pytest.raises(UpdateRejected, match="give a reason to send it again"):
        send(entry, now=NOW + timedelta(hours=1))

    assert entry.customer_updates.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_resend_with_reason_queues_again():
    entry = make_entry()
    first = send(entry)

    again = send(entry, now=NOW + timedelta(hours=1), reason="Customer says the e-mail never arrived")

    assert again.status == CustomerUpdate.Status.QUEUED
    assert again.resend_of == first
    assert again.reason == "Customer says the e-mail never arrived"
    assert again.outbox_message.idempotency_key == f"update:{entry.pk}:intake:2"
    assert OutboxMessage.objects.count() == 2
    reasons = list(entry.events.filter(kind=TimelineEvent.Kind.UPDATED).values_list("reason", flat=True))
    assert reasons[-1] == "Customer update queued: intake. Re-sent because: Customer says the e-mail never arrived"


def test_resend_reason_without_earlier_rejected():
    entry = make_entry()

    with pytest.raises(UpdateRejected, match="no intake update to re-send"):
        send(entry, reason="just because")

    assert not entry.customer_updates.exists()


def test_unknown_stage_rejected():
    entry = make_entry()

    with pytest.raises(UpdateRejected, match="Unknown stage 'later'"):
        send(entry, stage="later")


def test_second_first_update_violates_constraint():
    entry = make_entry()
    send(entry)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerUpdate.objects.create(entry=entry, stage=MessageStage.INTAKE, status="skipped", created_at=NOW)


def test_resend_without_reason_violates_constraint():
    entry = make_entry()
    first = send(entry)

    with pytest.raises(IntegrityError), transaction.atomic():
        CustomerUpdate.objects.create(
            entry=entry, stage=MessageStage.INTAKE, status="skipped", resend_of=first, created_at=NOW
        )


def test_final_update_survives_resolution(smtp_server):  # noqa: F811
    entry = make_entry(status=Status.RESOLVED)

    update = send(entry, stage=MessageStage.FINAL)
    outbox_deliver(now=NOW)

    update.outbox_message.refresh_from_db()
    assert update.outbox_message.status == OutboxMessage.Status.SENT
    assert len(smtp_server.messages) == 1


# The entry page


def test_panel_lists_update_states():
    entry = make_entry()
    send(entry)
    held_entry = make_entry(due_at=None)
    send(held_entry)

    queued_html = Template("{% load customer_updates %}{% update_panel entry %}").render(Context({"entry": entry}))
    held_html = Template("{% load customer_updates %}{% update_panel entry %}").render(Context({"entry": held_entry}))

    assert "queued" in queued_html
    assert reverse("entry-update-preview", args=[entry.pk]) + "?stage=midpoint" in queued_html
    assert "held" in held_html
    assert "missing: eta" in held_html


@pytest.mark.parametrize("role", ["support", "lead", "manager", "admin"])
def test_every_role_previews_and_sends(client, role):
    entry = make_entry(customer_name="Zoë <i>Ann</i>")
    client.force_login(UserFactory(username=f"sender-{role}", roles=[role]))

    preview = client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"})
    response = client.post(reverse("entry-update-send", args=[entry.pk]), {"stage": "intake"})

    assert preview.status_code == 200
    assert f"Update on your order {entry.external_ref}" in preview.content.decode()
    assert "Zoë &lt;i&gt;Ann&lt;/i&gt;" in preview.content.decode()
    assert response.status_code == 302
    assert response["Location"] == reverse("entry-detail", args=[entry.pk])
    update = entry.customer_updates.get()
    assert update.status == CustomerUpdate.Status.QUEUED
    assert update.created_by.username == f"sender-{role}"


def test_preview_stores_nothing(client, support):
    entry = make_entry()
    client.force_login(support)

    client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"})

    assert not entry.customer_updates.exists()
    assert not OutboxMessage.objects.exists()


def test_preview_shows_held_reason(client, support):
    entry = make_entry(due_at=None)
    client.force_login(support)

    response = client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"})

    assert "would be held: missing: eta" in response.content.decode()


def test_resend_form_asks_for_reason(client, support):
    entry = make_entry()
    send(entry)
    client.force_login(support)

    preview = client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"})
    rejected = client.post(reverse("entry-update-send", args=[entry.pk]), {"stage": "intake"}, follow=True)
    accepted = client.post(
        reverse("entry-update-send", args=[entry.pk]), {"stage": "intake", "resend_reason": "Wrong address before"}
    )

    assert 'name="resend_reason"' in preview.content.decode()
    assert "give a reason to send it again" in rejected.content.decode()
    assert accepted.status_code == 302
    assert entry.customer_updates.count() == 2


def test_invalid_stage_is_bad_request(client, support):
    entry = make_entry()
    client.force_login(support)

    assert client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "x"}).status_code == 400
    assert client.post(reverse("entry-update-send", args=[entry.pk]), {"stage": "x"}).status_code == 400


def test_anonymous_redirected_to_login(client):
    entry = make_entry()

    preview = client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"})
    sent = client.post(reverse("entry-update-send", args=[entry.pk]), {"stage": "intake"})

    assert preview.status_code == 302
    assert "login" in preview["Location"]
    assert sent.status_code == 302
    assert "login" in sent["Location"]
    assert not entry.customer_updates.exists()


def test_user_without_role_forbidden(client, no_role_user):
    entry = make_entry()
    client.force_login(no_role_user)

    assert client.get(reverse("entry-update-preview", args=[entry.pk]), {"stage": "intake"}).status_code == 403
    assert client.post(reverse("entry-update-send", args=[entry.pk]), {"stage": "intake"}).status_code == 403
    assert not entry.customer_updates.exists()


def test_send_view_rejects_get(client, support):
    entry = make_entry()
    client.force_login(support)

    assert client.get(reverse("entry-update-send", args=[entry.pk])).status_code == 405


# The cadence


def stages_of(entry) -> list[tuple[str, str]]:
    return list(entry.customer_updates.order_by("id").values_list("stage", "status"))


def test_cadence_sends_intake_to_triaged_entries(support):
    owned = make_entry(owner=support)
    queued = make_entry()
    queued.events.create(kind=TimelineEvent.Kind.TRIAGED, at=NOW - timedelta(hours=1))
    untriaged = make_entry()
    closed = make_entry(owner=support, status=Status.CLOSED)

    result = updates_cadence(now=NOW)

    assert result["queued"]["intake"] == 2
    assert stages_of(owned) == [("intake", "queued")]
    assert stages_of(queued) == [("intake", "queued")]
    assert stages_of(untriaged) == []
    assert stages_of(closed) == []


def test_cadence_sends_midpoint_after_halfway(support):
    entry = make_entry(owner=support, due_at=NOW + timedelta(hours=10))
    updates_cadence(now=NOW)

    before = updates_cadence(now=NOW + timedelta(hours=4, minutes=59))
    after = updates_cadence(now=NOW + timedelta(hours=5))
    again = updates_cadence(now=NOW + timedelta(hours=6))

    assert before["queued"]["midpoint"] == 0
    assert after["queued"]["midpoint"] == 1
    assert again["queued"]["midpoint"] == 0
    assert stages_of(entry) == [("intake", "queued"), ("midpoint", "queued")]


def test_cadence_skips_midpoint_after_eta(support):
    entry = make_entry(owner=support, due_at=NOW + timedelta(hours=10))
    updates_cadence(now=NOW)

    result = updates_cadence(now=NOW + timedelta(hours=11))

    assert result["skipped"] == 1
    midpoint = entry.customer_updates.get(stage=MessageStage.MIDPOINT)
    assert midpoint.status == CustomerUpdate.Status.SKIPPED
    assert midpoint.reason == "ETA reached before the midpoint"


def test_cadence_resolved_entry_gets_final_only(smtp_server, support):  # noqa: F811
    entry = make_entry(owner=support, due_at=NOW + timedelta(hours=10))
    updates_cadence(now=NOW)
    outbox_deliver(now=NOW)
    entry.status = Status.RESOLVED
    entry.save(update_fields=["status"])

    first = updates_cadence(now=NOW + timedelta(hours=1))
    second = updates_cadence(now=NOW + timedelta(hours=6))
    outbox_deliver(now=NOW + timedelta(hours=6))

    assert first["queued"] == {"intake": 0, "midpoint": 0, "final": 1}
    assert first["skipped"] == 1
    assert second == {"queued": {"intake": 0, "midpoint": 0, "final": 0}, "held": 0, "skipped": 0, "raced": 0}
    assert stages_of(entry) == [("intake", "queued"), ("midpoint", "skipped"), ("final", "queued")]
    midpoint = entry.customer_updates.get(stage=MessageStage.MIDPOINT)
    assert midpoint.reason == "resolved before the midpoint"
    assert midpoint.outbox_message is None
    subjects = [message["Subject"] for message in smtp_server.parsed()]
    assert subjects == [f"Update on your order {entry.external_ref}", subjects[1]]
    assert subjects[1].startswith(f"Your order {entry.external_ref}: expected by")
    reasons = list(entry.events.filter(kind=TimelineEvent.Kind.UPDATED).values_list("reason", flat=True))
    assert "Customer update skipped: midpoint (resolved before the midpoint)" in reasons


def test_cadence_never_finals_silent_entries():
    make_entry(status=Status.RESOLVED)

    result = updates_cadence(now=NOW)

    assert result["queued"] == {"intake": 0, "midpoint": 0, "final": 0}
    assert not CustomerUpdate.objects.exists()


def test_cadence_holds_once_without_eta(support):
    entry = make_entry(owner=support, due_at=None)
    entry.events.create(kind=TimelineEvent.Kind.TRIAGED, at=NOW)

    first = updates_cadence(now=NOW)
    second = updates_cadence(now=NOW + timedelta(minutes=5))

    assert first["held"] == 1
    assert second["held"] == 0
    assert stages_of(entry) == [("intake", "held")]


def test_cadence_batch_caps_one_run(support):
    entries = [make_entry(owner=support) for _ in range(3)]

    first = updates_cadence(now=NOW, batch_size=2)
    second = updates_cadence(now=NOW, batch_size=2)

    assert first["queued"]["intake"] == 2
    assert second["queued"]["intake"] == 1
    assert all(stages_of(entry) == [("intake", "queued")] for entry in entries)


def test_cadence_midpoint_on_postgres(uses_postgres, support):
    entry = make_entry(owner=support, due_at=NOW + timedelta(days=2))
    updates_cadence(now=NOW)

    result = updates_cadence(now=NOW + timedelta(days=1, seconds=1))

    assert result["queued"]["midpoint"] == 1
    assert stages_of(entry)[-1] == ("midpoint", "queued")


def test_cadence_task_runs_service(support):
    # The task runs at the real time, so the ETA must lie ahead of it.
    entry = make_entry(owner=support, due_at=timezone.now() + timedelta(days=2))

    result = send_customer_updates_task.apply().get()

    assert result["queued"]["intake"] == 1
    assert stages_of(entry) == [("intake", "queued")]


@pytest.mark.django_db(transaction=True)
def test_concurrent_sends_queue_one(uses_postgres):
    entry = make_entry()
    senders = 3
    barrier = threading.Barrier(senders)
    outcomes = []

    def attempt() -> None:
        try:
            barrier.wait()
            outcomes.append(send(entry).status)
        except UpdateRejected as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count(CustomerUpdate.Status.QUEUED) == 1
    assert sum("give a reason to send it again" in outcome for outcome in outcomes) == senders - 1
    assert entry.customer_updates.count() == 1
    assert OutboxMessage.objects.count() == 1


def test_cadence_sends_final_after_eta_change(lead, support):
    entry = make_entry(owner=support, due_at=NOW + timedelta(days=2))
    updates_cadence(now=NOW)
    entry.refresh_from_db()
    entry_decide(
        entry_id=entry.pk,
        expected_version=entry.version,
        decision=TriageDecision(due_at=NOW + timedelta(days=4)),
        actor=lead,
        now=NOW + timedelta(hours=1),
    )

    first = updates_cadence(now=NOW + timedelta(hours=2))
    again = updates_cadence(now=NOW + timedelta(hours=3))

    assert first["queued"]["final"] == 1
    assert again["queued"]["final"] == 0
    assert ("final", "queued") in stages_of(entry)


def test_cadence_ignores_eta_set_before_intake(support):
    entry = make_entry(owner=support, due_at=NOW + timedelta(days=2))
    entry.events.create(kind=TimelineEvent.Kind.ASSIGNED, at=NOW - timedelta(hours=1), changes={"due_at": {"old": None, "new": "x"}})

    updates_cadence(now=NOW)
    result = updates_cadence(now=NOW + timedelta(hours=1))

    assert result["queued"]["final"] == 0
