"""Read configuration from environment variables through one helper."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()


def require(name: str) -> str:
    """Return the variable's value, or raise naming the variable when it is unset or empty."""
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"The environment variable {name} is required in production settings but is not set."
        )
    return value
