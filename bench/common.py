"""Helpers the benchmark scripts share: a scratch PostgreSQL database beside DATABASE_URL."""

import os
import sys
from urllib.parse import urlsplit, urlunsplit


def bench_database_url(name: str) -> tuple[str, str]:
    """Return the admin URL from DATABASE_URL and the URL of the database `name` beside it."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a PostgreSQL server, such as postgres://postgres@127.0.0.1:5432/postgres.")
    parts = urlsplit(url)
    return url, urlunsplit(parts._replace(path=f"/{name}"))


def recreate_database(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(admin_url: str, name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
