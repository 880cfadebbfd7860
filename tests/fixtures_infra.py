"""Fixtures for tests that reach real servers or start processes of their own.

Test modules load them with `pytest_plugins = ["tests.fixtures_infra"]`.
"""

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

from tests.conftest import REPO_ROOT

# The real-worker tests use their own Redis database, which they empty before and after,
# so they never touch the queue or cache of anything else on the same server. Each xdist
# worker counts down from this number (gw0 uses 15, gw1 uses 14), so two such tests can run
# at once without taking each other's tasks.
CELERY_TEST_REDIS_DB = int(os.environ.get("TRIAGE_TEST_CELERY_REDIS_DB", "15"))


@pytest.fixture
def redis_url() -> str:
    """Return REDIS_URL once its server responds to a ping; skip the test otherwise."""
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

    worker_index = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    database = CELERY_TEST_REDIS_DB - worker_index
    if database < 0:
        pytest.skip(f"No Redis database left for xdist worker {worker_index}; raise TRIAGE_TEST_CELERY_REDIS_DB.")
    parts = urlsplit(redis_url)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{database}", "", ""))
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
    """Return this process's environment for a child Django process, without PYTEST_, DJANGO_ and CELERY_ variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PYTEST_", "DJANGO_", "CELERY_"))
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env

