"""docker-compose.yml and the Dockerfile describe a coherent production stack.

No Docker engine runs in CI, so these tests read the files: services, health checks, start
order and the environment that production settings require.
"""

import re

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.production_config import production_required_variables

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text(encoding="utf-8")
DJANGO_SERVICES = ("migrate", "web", "worker", "beat")
LONG_RUNNING = ("web", "worker", "beat")


def healthcheck_text(service: str) -> str:
    test = SERVICES[service]["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def test_compose_defines_production_services():
    assert set(SERVICES) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ("postgres", "pg_isready"),
        ("redis", "redis-cli ping"),
        ("web", "http://localhost:8000/"),
        ("worker", "celery -A config inspect ping"),
    ],
)
def test_compose_service_has_healthcheck(service, expected):
    assert expected in healthcheck_text(service)
    assert SERVICES[service]["healthcheck"]["interval"]


@pytest.mark.parametrize("service", LONG_RUNNING)
def test_compose_service_waits_for_migrate(service):
    depends_on = SERVICES[service]["depends_on"]

    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    assert depends_on["postgres"]["condition"] == "service_healthy"
    assert depends_on["redis"]["condition"] == "service_healthy"


def test_compose_migrate_registers_schedule():
    migrate = SERVICES["migrate"]
    command = " ".join(migrate["command"])

    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "manage.py migrate --noinput" in command
    assert "manage.py setup_schedule" in command
    assert command.index("migrate --noinput") < command.index("setup_schedule")
    assert migrate["restart"] == "no"


@pytest.mark.parametrize("service", DJANGO_SERVICES)
def test_compose_service_provides_every_required_variable(service):
    environment = SERVICES[service]["environment"]

    for name in production_required_variables():
        assert environment.get(name), f"{service} does not set {name}, which production settings require"
    assert environment["DJANGO_SETTINGS_MODULE"] == "config.settings.production"


def test_compose_points_django_at_compose_servers():
    environment = SERVICES["web"]["environment"]
    postgres = SERVICES["postgres"]["environment"]

    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["DATABASE_URL"].endswith(f"/{postgres['POSTGRES_DB']}")
    assert environment["DATABASE_URL"].startswith(f"postgres://{postgres['POSTGRES_USER']}:")
    assert environment["REDIS_URL"].startswith("redis://redis:6379/")


def test_compose_secrets_fail_when_unset():
    # Compose stops with the given message when a ${NAME:?message} variable is unset.
    environment = SERVICES["web"]["environment"]

    for name in ("SECRET_KEY", "EMAIL_URL", "ALLOWED_HOSTS"):
        assert re.search(r"\$\{" + name + r":\?[^}]+\}", environment[name]), name
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]


def test_compose_web_runs_gunicorn():
    web = SERVICES["web"]

    assert web["command"][:2] == ["gunicorn", "config.wsgi:application"]
    assert "0.0.0.0:8000" in web["command"]
    # The health check sends Host: localhost, which production's host validation must accept.
    assert web["environment"]["ALLOWED_HOSTS"].endswith(",localhost")


def test_compose_runs_worker_and_beat():
    worker = " ".join(SERVICES["worker"]["command"])
    beat = " ".join(SERVICES["beat"]["command"])

    assert worker.startswith("celery -A config worker")
    # The health check pings the worker by the node name it starts with.
    assert "--hostname=worker@%h" in worker
    assert "worker@$$HOSTNAME" in healthcheck_text("worker")
    assert beat.startswith("celery -A config beat")
    assert SERVICES["beat"].get("deploy", {}).get("replicas", 1) == 1


def test_compose_keeps_database_in_named_volume():
    assert "postgres-data" in COMPOSE["volumes"]
    assert any(volume.startswith("postgres-data:") for volume in SERVICES["postgres"]["volumes"])


def test_dockerfile_builds_non_root_image():
    assert re.search(r"^FROM python:3\.11-slim$", DOCKERFILE, re.MULTILINE)
    assert re.search(r"^RUN pip install \.$", DOCKERFILE, re.MULTILINE)
    assert "manage.py collectstatic --noinput" in DOCKERFILE
    assert "DJANGO_SETTINGS_MODULE=config.settings.production" in DOCKERFILE
    user = re.search(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user and user.group(1) not in ("root", "0")


def test_dockerignore_keeps_local_state_out_of_image():
    ignored = (REPO_ROOT / ".dockerignore").read_text(encoding="utf-8").split()

    for path in (".git", ".venv", "var", "staticfiles", ".env"):
        assert path in ignored
