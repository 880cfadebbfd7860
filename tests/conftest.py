"""Fixtures shared by the whole suite, and the checks that decide which tests skip."""

import os
from pathlib import Path

import pytest

from tests.factories import UserFactory

REPO_ROOT = Path(__file__).resolve().parent.parent
# The public data sets live beside the repository, never inside it; TRIAGE_REAL_DATA overrides.
REAL_DATA = Path(os.environ.get("TRIAGE_REAL_DATA", REPO_ROOT.parent / "shared" / "real-data"))
OLIST_SAMPLE = REAL_DATA / "olist-brazilian-ecommerce" / "sample-8k"


def pytest_configure(config) -> None:
    # Playwright's sync API runs an event loop in the test thread; the ORM calls made
    # there by live-server tests are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"The public data sets are not beside the repository (looked in {REAL_DATA}).")
    return REAL_DATA


@pytest.fixture
def olist_sample(real_data) -> Path:
    if not OLIST_SAMPLE.is_dir():
        pytest.skip(f"The Olist sample is missing (looked in {OLIST_SAMPLE}).")
    return OLIST_SAMPLE


@pytest.fixture
def lead(db):
    return UserFactory(username="lead-anna", first_name="Anna", roles=["lead"])


@pytest.fixture
def support(db):
    return UserFactory(username="support-ben", first_name="Ben", roles=["support"])


@pytest.fixture
def manager(db):
    return UserFactory(username="manager-carla", first_name="Carla", roles=["manager"])


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin-dev", roles=["admin"])


@pytest.fixture
def no_role_user(db):
    return UserFactory(username="visitor-dan")


@pytest.fixture
def uses_postgres(settings):
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("Needs PostgreSQL: set DATABASE_URL to a PostgreSQL database (row locks, concurrent sessions).")
