"""Fixtures shared by the whole suite, and the checks that decide which tests skip."""

import importlib
import os
from pathlib import Path

import pytest

from tests.factories import UserFactory

_standard_data_migration = importlib.import_module("backlog.migrations.0002_resolution_methods")

REPO_ROOT = Path(__file__).resolve().parent.parent
# The public data sets live beside the repository, never inside it; TRIAGE_REAL_DATA overrides.
REAL_DATA = Path(os.environ.get("TRIAGE_REAL_DATA", REPO_ROOT.parent / "shared" / "real-data"))
OLIST_SAMPLE = REAL_DATA / "olist-brazilian-ecommerce" / "sample-8k"


def pytest_configure(config) -> None:
    # Playwright's sync API runs an event loop in the test thread; the ORM calls made
    # there by live-server tests are still synchronous and safe.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def standard_rows(request) -> None:
    """Put back the rows the data migrations add, for every test that uses the database.

    A transactional test flushes every table when it ends, data migrations' rows included,
    so the tests after it would otherwise find no resolution methods or role groups.
    """
    names = set(request.fixturenames)
    marker = request.node.get_closest_marker("django_db")
    if marker is None and not names & {"db", "transactional_db", "live_server"}:
        return
    transactional = bool(names & {"transactional_db", "live_server"}) or bool(
        marker and marker.kwargs.get("transaction")
    )
    request.getfixturevalue("transactional_db" if transactional else "db")

    from django.contrib.auth.models import Group

    from backlog.models import ResolutionMethod

    for position, (code, name) in enumerate(_standard_data_migration.STANDARD_METHODS, start=1):
        ResolutionMethod.objects.get_or_create(code=code, defaults={"name": name, "position": position})
    for name in _standard_data_migration.ROLE_GROUPS:
        Group.objects.get_or_create(name=name)


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(
            f"The public data sets are missing: looked in {REAL_DATA}. "
            "Set TRIAGE_REAL_DATA to the folder that contains olist-brazilian-ecommerce."
        )
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
