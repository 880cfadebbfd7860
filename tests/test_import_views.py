"""The upload page: roles, the dry-run preview, the confirmation and its safety checks."""

import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from backlog.models import BacklogEntry, ImportRun
from tests.factories import ChannelFactory

DATA = Path(__file__).parent / "data" / "generic"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.IMPORT_UPLOAD_DIR = tmp_path / "uploads"
    return settings.IMPORT_UPLOAD_DIR


@pytest.fixture
def web(db):
    return ChannelFactory(code="web", name="Web shop")


def upload(client, name: str, **fields):
    fields.setdefault("encoding", "auto")
    fields.setdefault("delimiter", "auto")
    fields.setdefault("source", "generic")
    fields.setdefault("channel", "web")
    data = (DATA / name).read_bytes()
    return client.post(
        reverse("import-upload"), {"file": SimpleUploadedFile(name, data, "text/csv"), **fields}
    )


def pending_value(response) -> str:
    match = re.search(r'name="pending" value="([^"]+)"', response.content.decode())
    assert match, "the preview has no confirm form"
    return match.group(1)


def confirm(client, pending: str):
    return client.post(reverse("import-upload"), {"pending": pending})


# Roles


def test_upload_page_redirects_anonymous_to_login(client):
    response = client.get(reverse("import-upload"))

    assert response.status_code == 302
    assert reverse("login") in response["Location"]


@pytest.mark.parametrize("user_fixture", ["support", "manager", "no_role_user"])
def test_upload_page_forbidden_without_import_role(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))

    assert client.get(reverse("import-upload")).status_code == 403


@pytest.mark.parametrize(
    ("user_fixture", "signed_in_as"), [("support", "support"), ("manager", "manager")]
)
def test_forbidden_upload_page_names_needed_roles(client, request, user_fixture, signed_in_as):
    client.force_login(request.getfixturevalue(user_fixture))

    page = client.get(reverse("import-upload")).content.decode()

    assert "This page is for triage leads and admins." in page
    assert f"You are signed in as {signed_in_as}." in page
    assert "Ask an admin" not in page


@pytest.mark.parametrize("user_fixture", ["lead", "admin_user"])
def test_upload_page_shows_form_to_leads_and_admins(client, request, user_fixture):
    client.force_login(request.getfixturevalue(user_fixture))

    response = client.get(reverse("import-upload"))

    assert response.status_code == 200
    assert 'enctype="multipart/form-data"' in response.content.decode()


def test_support_cannot_confirm_an_import(client, support, web):
    client.force_login(support)

    assert confirm(client, "anything").status_code == 403


# Preview and confirmation


def test_preview_shows_counts_and_writes_nothing(client, lead, web):
    client.force_login(lead)

    response = upload(client, "orders_mon.csv")

    page = response.content.decode()
    assert response.status_code == 200
    assert "<strong>3</strong> to create" in page
    assert "RX-50002" in page
    assert "SKU-200 x 2; SKU-201 x 1" in page
    assert "comma (,)" in page
    assert BacklogEntry.objects.count() == 0
    assert ImportRun.objects.count() == 0


def test_confirm_imports_the_previewed_file(client, lead, web, upload_dir):
    client.force_login(lead)
    pending = pending_value(upload(client, "orders_mon.csv"))

    response = confirm(client, pending)

    assert response.status_code == 200
    assert "3 created, 0 updated, 0 unchanged." in response.content.decode()
    assert BacklogEntry.objects.count() == 3
    import_run = ImportRun.objects.get()
    assert (import_run.actor, import_run.file_name) == (lead, "orders_mon.csv")
    assert list(upload_dir.iterdir()) == []


def test_confirm_twice_imports_once(client, lead, web):
    client.force_login(lead)
    pending = pending_value(upload(client, "orders_mon.csv"))
    confirm(client, pending)

    response = confirm(client, pending)

    assert response.status_code == 400
    assert "no longer available" in response.content.decode()
    assert ImportRun.objects.count() == 1


def test_confirm_by_another_user_is_rejected(client, lead, admin_user, web):
    client.force_login(lead)
    pending = pending_value(upload(client, "orders_mon.csv"))
    client.force_login(admin_user)

    response = confirm(client, pending)

    assert response.status_code == 400
    assert "another user" in response.content.decode()
    assert BacklogEntry.objects.count() == 0


def test_tampered_confirmation_is_rejected(client, lead, web):
    client.force_login(lead)
    pending = pending_value(upload(client, "orders_mon.csv"))

    response = confirm(client, pending[:-2] + "xx")

    assert response.status_code == 400
    assert "invalid" in response.content.decode()
    assert BacklogEntry.objects.count() == 0


def test_preview_keeps_options_for_confirmation(client, lead, web):
    client.force_login(lead)
    pending = pending_value(
        upload(client, "names_cp1252.csv", encoding="cp1252", source="shop-export")
    )

    confirm(client, pending)

    assert (
        BacklogEntry.objects.get(source="shop-export", external_ref="RX-41001").customer_name
        == "Jürgen Weiß"
    )


def test_preview_of_semicolon_file_shows_separator_and_mapping(client, lead, web):
    client.force_login(lead)

    response = upload(client, "german_semicolon.csv")

    page = response.content.decode()
    assert "semicolon (;)" in page
    assert "(detected)" in page
    assert "<td>eta</td>" in page
    assert "promised_at" in page
    assert "RX-42001" in page


# Errors never end in a server error


def test_forced_utf8_shows_encoding_error_without_confirm(client, lead, web):
    client.force_login(lead)

    response = upload(client, "names_cp1252.csv", encoding="utf-8")

    page = response.content.decode()
    assert response.status_code == 200
    assert "not valid UTF-8" in page
    assert 'name="pending"' not in page
    assert BacklogEntry.objects.count() == 0


def test_preview_lists_errors_by_row_and_column(client, lead, web):
    client.force_login(lead)

    response = upload(client, "orders_bad.csv")

    page = response.content.decode()
    assert "04.05.2026" in page
    assert "<td>qty</td>" in page
    assert "4 errors found" in page
    assert 'name="pending"' not in page


def post_csv(client, name: str, data: bytes):
    return client.post(
        reverse("import-upload"),
        {
            "file": SimpleUploadedFile(name, data, "text/csv"),
            "encoding": "auto",
            "delimiter": "auto",
            "source": "generic",
            "channel": "web",
        },
    )


def test_long_error_value_is_truncated_with_title(client, lead, web):
    client.force_login(lead)
    long_ref = "A" * 5000

    response = post_csv(client, "long.csv", f"order_ref,sku\n{long_ref},SKU-1\n".encode())

    page = response.content.decode()
    assert "1 error found" in page
    assert '<td class="num">2</td>' in page
    assert "<td>order_ref</td>" in page
    assert f"<code>{'A' * 79}…</code>" in page
    assert f'title="{long_ref}"' in page
    assert "(5000 characters)" in page
    assert page.count(long_ref) == 1


def test_long_preview_values_are_truncated_with_title(client, lead, web):
    client.force_login(lead)
    header = "X" * 400
    name = "C" * 200

    response = post_csv(client, "long.csv", f"order_ref,customer_name,{header}\nRX-1,{name},1\n".encode())

    page = response.content.decode()
    assert 'name="pending"' in page
    assert f"{'C' * 79}…</td>" in page
    assert f'title="{name}"' in page
    assert f"{'X' * 79}…</td>" in page
    assert page.count(name) == 1
    assert page.count(header) == 1


def test_binary_file_shows_error(client, lead, web):
    client.force_login(lead)
    junk = SimpleUploadedFile("photo.csv", bytes(range(256)) * 4, "text/csv")

    response = client.post(
        reverse("import-upload"),
        {
            "file": junk,
            "encoding": "auto",
            "delimiter": "auto",
            "source": "generic",
            "channel": "web",
        },
    )

    assert response.status_code == 200
    assert "1 error found" in response.content.decode()


def test_missing_file_is_a_form_error(client, lead, web):
    client.force_login(lead)

    response = client.post(
        reverse("import-upload"), {"encoding": "auto", "delimiter": "auto", "source": "generic"}
    )

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_oversized_file_is_a_form_error(client, lead, web, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 100
    client.force_login(lead)

    response = upload(client, "orders_mon.csv")

    assert response.status_code == 400
    assert "upload limit is 100 bytes" in response.content.decode()


def test_invalid_date_format_is_a_form_error(client, lead, web):
    client.force_login(lead)

    response = upload(client, "orders_mon.csv", date_format="dd.mm.yyyy")

    assert response.status_code == 400
    assert "Invalid date format" in response.content.decode()


def test_preview_warns_when_delimiter_unsure(client, lead, web):
    client.force_login(lead)
    data = b"order_ref;customer_name,region\nRX-1;Anna,BE\n"

    response = client.post(
        reverse("import-upload"),
        {
            "file": SimpleUploadedFile("unsure.csv", data, "text/csv"),
            "encoding": "auto",
            "delimiter": "auto",
            "source": "generic",
            "channel": "web",
        },
    )

    page = response.content.decode()
    assert "Check the column mapping" in page
    assert "Column mapping" in page
    assert BacklogEntry.objects.count() == 0
