"""Customer message templates: strict placeholder validation, data-only rendering, versions and the editor."""

import threading
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import include, path

from backlog.models import BacklogType, TimelineEvent
from comms.models import MessageStage, MessageTemplate
from comms.placeholders import TemplateSyntaxProblem, template_problems
from comms.services.templates import (
    HeldMessage,
    RenderedMessage,
    default_templates_ensure,
    render_update,
    template_for,
    template_save,
)
from tests.factories import ChannelFactory, EntryFactory

# The project's URLs plus the editor's, until config/urls.py includes comms.urls.
urlpatterns = [path("comms/", include("comms.urls")), path("", include("config.urls"))]

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def unsaved(subject: str = "Order {{ reference }}", body_text: str = "", body_html: str = "") -> MessageTemplate:
    return MessageTemplate(
        backlog_type=BacklogType.DEMAND, stage=MessageStage.INTAKE, subject=subject, body_text=body_text, body_html=body_html
    )


def save(channel=None, subject: str = "Order {{ reference }}", **kwargs) -> MessageTemplate:
    return template_save(
        backlog_type=kwargs.pop("backlog_type", BacklogType.DEMAND),
        stage=kwargs.pop("stage", MessageStage.INTAKE),
        channel=channel,
        subject=subject,
        body_text=kwargs.pop("body_text", "Hello {{ customer_name }}"),
        body_html=kwargs.pop("body_html", ""),
        actor=kwargs.pop("actor", None),
        now=kwargs.pop("now", NOW),
    )


@pytest.fixture
def support_contact(settings):
    settings.CUSTOMER_SUPPORT_CONTACT = "support@shop.example"


# Validation


def test_validation_names_unknown_placeholder():
    assert template_problems("Hi {{ custmer_name }}") == ["Unknown placeholder custmer_name."]


def test_validation_names_each_unknown_placeholder():
    problems = template_problems("{{ custmer_name }} {{ eta }} {{ refrence }}")

    assert problems == ["Unknown placeholder custmer_name.", "Unknown placeholder refrence."]


def test_validation_rejects_template_tag():
    problems = template_problems("{% load static %}Hello")

    assert len(problems) == 1
    assert problems[0].startswith("Template tags")


def test_validation_rejects_comment():
    assert template_problems("{# internal #}")[0].startswith("Template comments")


def test_validation_rejects_attribute_traversal():
    problems = template_problems("{{ entry.owner.password }}")

    assert problems == [
        "Attribute traversal is not allowed in {{ entry.owner.password }}; use one of the listed placeholders."
    ]


@pytest.mark.parametrize("source", ["{{ eta|date:'Y' }}", "{{eta|upper}}", "{{ customer_name | safe }}"])
def test_validation_rejects_filters(source):
    problems = template_problems(source)

    assert len(problems) == 1
    assert problems[0].startswith("Filters are not allowed")


def test_validation_rejects_unclosed_placeholder():
    assert template_problems("Hello {{ customer_name")[0].startswith("Unclosed placeholder")


@pytest.mark.parametrize(
    "source", ["", "No placeholders at all.", "Hi {{customer_name}}, ETA {{ eta }} {{  reference  }}"]
)
def test_validation_accepts_valid_template(source):
    assert template_problems(source) == []


@pytest.mark.django_db
def test_model_validation_reports_problem_per_field():
    template = unsaved(subject="Hi {{ custmer_name }}", body_text="{% load static %}", body_html="{{ eta|date }}")

    with pytest.raises(ValidationError) as caught:
        template.full_clean(exclude=["version", "created_at"])

    errors = caught.value.message_dict
    assert errors["subject"] == ["Unknown placeholder custmer_name."]
    assert errors["body_text"][0].startswith("Template tags")
    assert errors["body_html"][0].startswith("Filters are not allowed")


@pytest.mark.django_db
def test_model_validation_rejects_multiline_subject():
    template = unsaved(subject="Hi\r\nBcc: someone@example.test", body_text="x")

    with pytest.raises(ValidationError) as caught:
        template.full_clean(exclude=["version", "created_at"])

    assert "The subject must be a single line." in caught.value.message_dict["subject"]


@pytest.mark.django_db
def test_template_save_rejects_invalid_text():
    with pytest.raises(TemplateSyntaxProblem, match="Unknown placeholder custmer_name"):
        save(body_text="Hi {{ custmer_name }}")

    assert not MessageTemplate.objects.exists()


# Rendering


@pytest.mark.django_db
def test_render_keeps_non_ascii_names(support_contact):
    entry = EntryFactory(customer_name="Zoë Ångström-Müller 山田", due_at=NOW)
    template = unsaved(subject="Für {{ customer_name }}", body_text="Hallo {{ customer_name }}", body_html="<p>{{ customer_name }}</p>")

    message = render_update(template, entry, now=NOW)

    assert isinstance(message, RenderedMessage)
    assert message.subject == "Für Zoë Ångström-Müller 山田"
    assert message.body_text == "Hallo Zoë Ångström-Müller 山田"
    assert message.body_html == "<p>Zoë Ångström-Müller 山田</p>"


@pytest.mark.django_db
def test_render_escapes_markup_only_in_html():
    entry = EntryFactory(customer_name='<b>&"')
    template = unsaved(subject="{{ customer_name }}", body_text="Hi {{ customer_name }}", body_html="<p>Hi {{ customer_name }}</p>")

    message = render_update(template, entry, now=NOW)

    assert message.subject == '<b>&"'
    assert message.body_text == 'Hi <b>&"'
    assert message.body_html == "<p>Hi &lt;b&gt;&amp;&quot;</p>"


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["{{ reference }}", "{% load static %}", "{{ entry.owner.password }}"])
def test_render_keeps_template_syntax_in_values_literal(name):
    entry = EntryFactory(customer_name=name)
    template = unsaved(subject="Re {{ customer_name }}", body_text="Dear {{ customer_name }}", body_html="{{ customer_name }}")

    message = render_update(template, entry, now=NOW)

    assert message.subject == f"Re {name}"
    assert message.body_text == f"Dear {name}"
    assert entry.reference not in message.body_text


@pytest.mark.django_db
def test_render_strips_line_breaks_from_subject():
    entry = EntryFactory(customer_name="Ann\r\nBcc: victim@example.test\nX")
    template = unsaved(subject="Order for {{ customer_name }}", body_text="{{ customer_name }}")

    message = render_update(template, entry, now=NOW)

    assert "\r" not in message.subject
    assert "\n" not in message.subject
    assert message.subject == "Order for Ann Bcc: victim@example.test X"
    assert message.body_text == "Ann\r\nBcc: victim@example.test\nX"


@pytest.mark.django_db
def test_render_fills_every_placeholder(support_contact):
    entry = EntryFactory(customer_name="Ann", external_ref="ORD-77", due_at=datetime(2026, 5, 6, 15, 30, tzinfo=UTC))
    TimelineEvent.objects.create(entry=entry, at=NOW, kind=TimelineEvent.Kind.ASSIGNED, reason="internal note")
    source = " ".join(
        "{{ %s }}" % name
        for name in ["customer_name", "reference", "order_reference", "eta", "next_update_at", "timeline", "support_contact"]
    )

    message = render_update(unsaved(subject="x", body_text=source), entry, now=NOW, next_update_at=NOW)

    assert isinstance(message, RenderedMessage)
    assert f"Ann {entry.reference} ORD-77 " in message.body_text
    assert "Triage decision" in message.body_text
    assert "internal note" not in message.body_text
    assert message.body_text.endswith("support@shop.example")


@pytest.mark.django_db
def test_render_holds_message_when_eta_missing():
    entry = EntryFactory(customer_name="Ann", due_at=None)
    template = unsaved(subject="Order {{ reference }}", body_text="Expected by {{ eta }}")

    held = render_update(template, entry, now=NOW)

    assert held == HeldMessage(missing=("eta",))
    assert held.reason == "missing: eta"


@pytest.mark.django_db
def test_render_held_lists_missing_in_order_of_use():
    entry = EntryFactory(customer_name="", due_at=None)
    template = unsaved(subject="By {{ eta }}", body_text="Dear {{ customer_name }}, by {{ eta }}")

    held = render_update(template, entry, now=NOW)

    assert held.reason == "missing: eta, customer_name"


@pytest.mark.django_db
def test_render_rejects_invalid_template():
    entry = EntryFactory()

    with pytest.raises(TemplateSyntaxProblem):
        render_update(unsaved(body_text="{% load static %}"), entry, now=NOW)


# Versions and choice


@pytest.mark.django_db
def test_saving_twice_gives_versions_one_and_two(manager):
    first = save(subject="First {{ reference }}", actor=manager)
    second = save(subject="Second {{ reference }}", actor=manager)
    entry = EntryFactory(backlog_type=BacklogType.DEMAND)

    assert (first.version, second.version) == (1, 2)
    assert second.created_by == manager
    assert template_for(entry, MessageStage.INTAKE) == second


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_get_distinct_versions(uses_postgres):
    editors = 3
    barrier = threading.Barrier(editors)
    errors = []

    def edit(number: int) -> None:
        try:
            barrier.wait()
            save(subject=f"Edit {number} {{{{ reference }}}}")
        except Exception as error:  # noqa: BLE001 - reported through the assertion below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=edit, args=(number,)) for number in range(editors)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(MessageTemplate.objects.values_list("version", flat=True)) == [1, 2, 3]


@pytest.mark.django_db
def test_versions_count_per_channel():
    save(channel=None)
    web = save(channel=ChannelFactory(code="web"))

    assert web.version == 1


@pytest.mark.django_db
def test_template_for_prefers_channel_template():
    web = ChannelFactory(code="web")
    store = ChannelFactory(code="store")
    save(channel=None)
    save(channel=None)
    web_template = save(channel=web)
    web_entry = EntryFactory(channel=web, backlog_type=BacklogType.DEMAND)
    store_entry = EntryFactory(channel=store, backlog_type=BacklogType.DEMAND)

    assert template_for(web_entry, MessageStage.INTAKE) == web_template
    fallback = template_for(store_entry, MessageStage.INTAKE)
    assert fallback.channel is None
    assert fallback.version == 2


@pytest.mark.django_db
def test_template_for_returns_none_without_template():
    save(backlog_type=BacklogType.PROCESSING)
    entry = EntryFactory(backlog_type=BacklogType.DEMAND)

    assert template_for(entry, MessageStage.INTAKE) is None
    assert template_for(EntryFactory(backlog_type=BacklogType.PROCESSING), MessageStage.FINAL) is None


@pytest.mark.django_db
def test_default_templates_cover_every_type_and_stage(support_contact):
    created = default_templates_ensure(now=NOW)
    again = default_templates_ensure(now=NOW)

    assert created == len(BacklogType) * len(MessageStage)
    assert again == 0
    assert MessageTemplate.objects.count() == created
    for template in MessageTemplate.objects.all():
        for source in (template.subject, template.body_text, template.body_html):
            assert template_problems(source) == []


@pytest.mark.django_db
def test_default_templates_leave_edited_ones_alone():
    edited = save(subject="Edited {{ reference }}")

    default_templates_ensure(now=NOW)

    entry = EntryFactory(backlog_type=BacklogType.DEMAND)
    assert template_for(entry, MessageStage.INTAKE) == edited


# Editor


@pytest.mark.urls(__name__)
def test_editor_rejects_support(client, support):
    client.force_login(support)

    assert client.get("/comms/templates/").status_code == 403
    assert client.get("/comms/templates/demand/intake/").status_code == 403
    assert client.post("/comms/templates/demand/intake/preview/").status_code == 403


@pytest.mark.urls(__name__)
def test_editor_lists_templates_for_manager(client, manager):
    default_templates_ensure(now=NOW)
    client.force_login(manager)

    response = client.get("/comms/templates/")

    assert response.status_code == 200
    assert b"Demand-driven" in response.content
    assert b"Final expectation" in response.content


@pytest.mark.urls(__name__)
def test_editor_saves_new_version(client, manager):
    save(subject="Old {{ reference }}")
    client.force_login(manager)

    page = client.get("/comms/templates/demand/intake/")
    response = client.post(
        "/comms/templates/demand/intake/",
        {"channel": "", "subject": "New {{ reference }}", "body_text": "Hi {{ customer_name }}", "body_html": ""},
    )

    assert page.status_code == 200
    assert b"Old {{ reference }}" in page.content
    assert response.status_code == 302
    latest = MessageTemplate.objects.order_by("-version").first()
    assert (latest.version, latest.subject, latest.created_by) == (2, "New {{ reference }}", manager)


@pytest.mark.urls(__name__)
def test_editor_shows_errors_per_field(client, manager):
    client.force_login(manager)

    response = client.post(
        "/comms/templates/demand/intake/",
        {"channel": "", "subject": "Hi {{ custmer_name }}", "body_text": "{% load static %}", "body_html": "{{ eta|upper }}"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["subject"] == ["Unknown placeholder custmer_name."]
    assert "body_text" in response.context["form"].errors
    assert "body_html" in response.context["form"].errors
    assert b"Unknown placeholder custmer_name." in response.content
    assert not MessageTemplate.objects.exists()


@pytest.mark.urls(__name__)
def test_editor_rejects_unknown_type(client, manager):
    client.force_login(manager)

    assert client.get("/comms/templates/weather/intake/").status_code == 404


@pytest.mark.urls(__name__)
def test_preview_renders_against_entry(client, manager):
    entry = EntryFactory(customer_name='<script>alert(1)</script>', due_at=NOW)
    client.force_login(manager)

    response = client.post(
        "/comms/templates/demand/intake/preview/",
        {
            "reference": entry.reference.lower(),
            "channel": "",
            "subject": "Order {{ reference }}",
            "body_text": "Hi {{ customer_name }}",
            "body_html": "<p>Hi {{ customer_name }}</p>",
        },
        HTTP_HX_REQUEST="true",
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert f"Order {entry.reference}" in content
    assert "<script>alert(1)</script>" not in content
    assert 'sandbox=""' in content
    assert "<html" not in content


@pytest.mark.urls(__name__)
def test_preview_reports_held_message(client, manager):
    entry = EntryFactory(due_at=None)
    client.force_login(manager)

    response = client.post(
        "/comms/templates/demand/intake/preview/",
        {"reference": entry.reference, "channel": "", "subject": "By {{ eta }}", "body_text": "x", "body_html": ""},
    )

    assert "missing: eta" in response.content.decode()


@pytest.mark.urls(__name__)
def test_preview_reports_unknown_reference(client, manager):
    client.force_login(manager)

    response = client.post(
        "/comms/templates/demand/intake/preview/",
        {"reference": "BL-999999", "channel": "", "subject": "x", "body_text": "x", "body_html": ""},
    )

    assert "Entry BL-999999 was not found." in response.content.decode()
