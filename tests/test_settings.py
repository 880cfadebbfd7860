"""Settings load from the environment; production fails loudly, naming any missing variable.

Each case imports a settings module in a fresh interpreter, because Django settings can be
loaded only once per process.
"""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT
from tests.production_config import production_required_variables

REQUIRED = production_required_variables()
PRODUCTION_ENV = {
    "SECRET_KEY": "a-long-random-production-key",
    "DATABASE_URL": "postgres://triage:secret@db.internal:5432/triage",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "ALLOWED_HOSTS": "triage.example.com,localhost",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}
# Printed as JSON by the child interpreter.
PROBE = """
import json
from django.conf import settings
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "DATABASE_ENGINE": settings.DATABASES["default"]["ENGINE"],
    "DATABASE_HOST": settings.DATABASES["default"].get("HOST", ""),
    "CACHE_BACKEND": settings.CACHES["default"]["BACKEND"],
    "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
    "CELERY_BROKER_TRANSPORT_OPTIONS": getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}),
    "CELERY_TASK_ALWAYS_EAGER": settings.CELERY_TASK_ALWAYS_EAGER,
    "STATICFILES_BACKEND": settings.STORAGES["staticfiles"]["BACKEND"],
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "EMAIL_HOST": getattr(settings, "EMAIL_HOST", ""),
}))
"""


def load_settings(module: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Import `module` as DJANGO_SETTINGS_MODULE in a child interpreter with only `env` set."""
    base_env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        env={**base_env, "DJANGO_SETTINGS_MODULE": module, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_requires_known_variables():
    assert set(REQUIRED) >= {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "EMAIL_URL"}


def test_production_loads_with_every_variable_set():
    values = loaded(load_settings("config.settings.production", PRODUCTION_ENV))

    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == PRODUCTION_ENV["SECRET_KEY"]
    assert values["ALLOWED_HOSTS"] == ["triage.example.com", "localhost"]
    assert values["DATABASE_ENGINE"] == "django.db.backends.postgresql"
    assert values["DATABASE_HOST"] == "db.internal"
    assert values["CACHE_BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert values["CELERY_BROKER_URL"] == PRODUCTION_ENV["REDIS_URL"]
    assert values["CELERY_TASK_ALWAYS_EAGER"] is False
    assert values["STATICFILES_BACKEND"] == "whitenoise.storage.CompressedManifestStaticFilesStorage"
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["EMAIL_HOST"] == "smtp.example.com"


@pytest.mark.parametrize("name", REQUIRED)
def test_production_missing_variable_is_named(name):
    env = {key: value for key, value in PRODUCTION_ENV.items() if key != name}

    result = load_settings("config.settings.production", env)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr
    assert f"The environment variable {name} is required in production settings but is not set." in result.stderr


@pytest.mark.parametrize("name", REQUIRED)
def test_production_empty_variable_is_named(name):
    result = load_settings("config.settings.production", {**PRODUCTION_ENV, name: ""})

    assert result.returncode != 0
    assert f"The environment variable {name} is required" in result.stderr


def test_production_ignores_debug_from_environment():
    values = loaded(load_settings("config.settings.production", {**PRODUCTION_ENV, "DEBUG": "true"}))

    assert values["DEBUG"] is False


def test_dev_without_servers_uses_sqlite_and_filesystem_broker():
    values = loaded(load_settings("config.settings.dev", {}))

    assert values["DEBUG"] is True
    assert values["DATABASE_ENGINE"] == "django.db.backends.sqlite3"
    assert values["CACHE_BACKEND"] == "django.core.cache.backends.locmem.LocMemCache"
    assert values["CELERY_BROKER_URL"] == "filesystem://"
    options = values["CELERY_BROKER_TRANSPORT_OPTIONS"]
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        assert os.path.isdir(options[key]), f"{key} folder {options[key]} does not exist after loading settings"


def test_dev_redis_url_sets_broker_and_cache():
    values = loaded(load_settings("config.settings.dev", {"REDIS_URL": "redis://127.0.0.1:6379/3"}))

    assert values["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/3"
    assert values["CELERY_BROKER_TRANSPORT_OPTIONS"] == {}
    assert values["CACHE_BACKEND"] == "django.core.cache.backends.redis.RedisCache"


def test_celery_broker_url_overrides_redis_url():
    env = {"REDIS_URL": "redis://127.0.0.1:6379/3", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/4"}

    values = loaded(load_settings("config.settings.dev", env))

    assert values["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/4"


def test_test_settings_run_tasks_eagerly():
    values = loaded(load_settings("config.settings.test", {}))

    assert values["CELERY_TASK_ALWAYS_EAGER"] is True
