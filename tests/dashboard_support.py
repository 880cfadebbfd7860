"""Helpers shared by the dashboard test modules."""

import importlib

import pytest

from backlog.models import ResolutionMethod

_methods_migration = importlib.import_module("backlog.migrations.0002_resolution_methods")


def ensure_standard_methods() -> None:
    """Recreate the standard resolution methods a data migration adds.

    A transactional test elsewhere in the suite flushes every table, data migrations'
    rows included, so tests that rely on these rows put them back first.
    """
    for position, (code, name) in enumerate(_methods_migration.STANDARD_METHODS, start=1):
        ResolutionMethod.objects.get_or_create(code=code, defaults={"name": name, "position": position})


@pytest.fixture
def standard_methods(db) -> None:
    ensure_standard_methods()
