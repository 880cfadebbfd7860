"""Oversized request bodies are rejected before any view or the CSRF check reads them."""

import pytest


@pytest.mark.django_db
def test_oversized_body_is_rejected_unread(client, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 10

    response = client.generic("POST", "/imports/", b"x" * (2 * 1024 * 1024), content_type="text/csv")

    assert response.status_code == 413
    assert "limit is" in response.content.decode()


@pytest.mark.django_db
def test_normal_body_passes(client):
    response = client.post("/accounts/login/", {"username": "nobody", "password": "wrong"})

    assert response.status_code == 200
