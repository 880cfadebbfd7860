"""Fixtures for tests that reach real servers or start processes of their own.

Test modules load them with `pytest_plugins = ["tests.fixtures_infra"]`.
"""

import ast
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
# The real-worker tests use their own Redis database, which they empty before and after,
# so they never touch the queue or cache of anything else on the same server.
CELERY_TEST_REDIS_DB = int(os.environ.get("TRIAGE_TEST_CELERY_REDIS_DB", "15"))


@pytest.fixture
def redis_url() -> str:
    """Return REDIS_URL once its server answers a ping; skip the test otherwise."""
    url = os.environ.get("REDIS_URL", "")
    if not url:
        pytest.skip("Needs Redis: set REDIS_URL, such as redis://127.0.0.1:6379/0.")

    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.skip(f"Needs Redis: no answer from REDIS_URL {url} ({error}).")
    finally:
        client.close()
    return url


@pytest.fixture
def celery_redis_url(redis_url) -> Iterator[str]:
    """Return a URL to a separate, emptied database on the REDIS_URL server for a real broker."""
    import redis

    parts = urlsplit(redis_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{CELERY_TEST_REDIS_DB}", "", ""))
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def database_url_for_subprocess(settings, uses_postgres) -> str:
    """Return a DATABASE_URL that points a child process at the database this test uses."""
    database = settings.DATABASES["default"]
    credentials = quote(database["USER"] or "", safe="")
    if database.get("PASSWORD"):
        credentials += ":" + quote(database["PASSWORD"], safe="")
    host = database["HOST"] or "127.0.0.1"
    port = database["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{database['NAME']}"


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Return an environment for a child Django process: ours minus the test-only variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_", "CELERY_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def production_required_variables() -> list[str]:
    """Return the names listed in REQUIRED_VARIABLES of config/settings/production.py.

    The file is parsed, not imported, because importing it fails unless they are all set.
    """
    tree = ast.parse((REPO_ROOT / "config" / "settings" / "production.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "REQUIRED_VARIABLES" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    raise LookupError("config/settings/production.py defines no REQUIRED_VARIABLES.")
