"""Benchmark the dashboard, its panels and the triage cycle on a large backlog in PostgreSQL.

Usage (PostgreSQL only; the database is created and dropped by the script):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/dashboard_bench.py --open 100000 --closed 100000

It loads the entries with COPY, then reports for each page the median server time over
several requests, the number of queries, and the floor: the same queries' SQL timed alone.
Ratios to the floor are what to compare across machines; absolute times drift.
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.common import bench_database_url, drop_database, recreate_database  # noqa: E402

BENCH_DATABASE = "triage_desk_bench"
TYPES = ["demand", "allocation", "processing", "mixed", "unclassified"]
STAGES = ["awaiting_approval", "awaiting_handover", "in_transit"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="Open entries to load (default 100000).")
    parser.add_argument("--closed", type=int, default=100_000, help="Closed entries to load (default 100000).")
    parser.add_argument("--runs", type=int, default=15, help="Requests per page; the median is reported.")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
    return parser.parse_args()


def load_entries(*, open_count: int, closed_count: int, now: datetime) -> float:
    """COPY the entries into the table; return the seconds it took."""
    from django.db import connection

    from backlog.models import Channel

    channel_ids = [
        Channel.objects.get_or_create(code=code, defaults={"name": code.title()})[0].pk
        for code in ("web", "store", "marketplace", "app")
    ]
    rng = random.Random(42)
    columns = (
        "source, external_ref, channel_id, customer_name, customer_email, region, ordered_at, "
        "items_unavailable, intake_demand, detected_at, stage, status, backlog_type, "
        "classification_reasons, escalation_level, note, version, created_at, updated_at, closed_at"
    )
    started = time.monotonic()
    with connection.cursor() as cursor:
        copy_sql = f"COPY backlog_backlogentry ({columns}) FROM STDIN"
        with cursor.cursor.copy(copy_sql) as copy:
            for number in range(open_count + closed_count):
                is_open = number < open_count
                detected = now - timedelta(minutes=rng.randint(1, 60 * 24 * 30))
                copy.write_row(
                    (
                        "bench",
                        f"B-{number:08d}",
                        rng.choice(channel_ids),
                        f"Customer {number}",
                        "",
                        "SP",
                        detected,
                        False,
                        "{}",
                        detected,
                        rng.choice(STAGES) if is_open else "delivered",
                        "open" if is_open else "closed",
                        rng.choice(TYPES),
                        "[]",
                        0,
                        "",
                        1,
                        now,
                        now,
                        None if is_open else detected + timedelta(days=2),
                    )
                )
        cursor.execute("ANALYZE backlog_backlogentry")
    return time.monotonic() - started


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 2)


def time_request(client, url: str, runs: int, headers: dict | None = None) -> tuple[float, int]:
    """Return the median server time in ms and the query count of one GET."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, **(headers or {}))  # warm caches and the connection
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url, **(headers or {}))
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(url, **(headers or {}))
    return median_ms(samples), len(queries.captured_queries)


def time_sql(sql: str, runs: int) -> float:
    from django.db import connection

    samples = []
    with connection.cursor() as cursor:
        for _ in range(runs):
            started = time.perf_counter()
            cursor.execute(sql)
            cursor.fetchall()
            samples.append(time.perf_counter() - started)
    return median_ms(samples)


def main() -> None:
    args = parse_args()
    admin_url, bench_url = bench_database_url(BENCH_DATABASE)
    recreate_database(admin_url, BENCH_DATABASE)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ["DEBUG"] = "false"

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from tests.factories import UserFactory
    from triage.services.cycles import cycle_run

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    seconds = load_entries(open_count=args.open, closed_count=args.closed, now=now)
    total = args.open + args.closed
    print(f"Loaded {args.open:,} open and {args.closed:,} closed entries with COPY in {seconds:.1f} s "
          f"({total / seconds:,.0f} rows/s).")

    started = time.perf_counter()
    outcome = cycle_run(now=now)
    cycle_ms = round((time.perf_counter() - started) * 1000, 1)

    lead = UserFactory(username="bench-lead", roles=["lead"])
    client = Client()
    client.force_login(lead)
    htmx = {"HTTP_HX_REQUEST": "true"}

    rows = [
        ("dashboard, full page", *time_request(client, "/", args.runs)),
        ("dashboard, counts panel", *time_request(client, "/", args.runs, {**htmx, "HTTP_HX_TARGET": "summary-panel"})),
        ("dashboard, queue panel", *time_request(client, "/", args.runs, {**htmx, "HTTP_HX_TARGET": "queue-panel"})),
        ("dashboard, filtered by channel", *time_request(client, "/?channel=web", args.runs)),
        ("API entries, first page of 50", *time_request(client, "/api/entries/", args.runs)),
    ]
    floors = {
        "counts by type x age bucket": time_sql(
            "SELECT backlog_type, count(*) FILTER (WHERE detected_at > now() - interval '4 hours'), "
            "count(*) FILTER (WHERE detected_at <= now() - interval '4 hours') FROM backlog_backlogentry "
            "WHERE status IN ('open', 'on_hold') GROUP BY backlog_type",
            args.runs,
        ),
        "oldest 25 open lacking owner or ETA": time_sql(
            "SELECT id FROM backlog_backlogentry WHERE status IN ('open', 'on_hold') "
            "AND (owner_id IS NULL OR due_at IS NULL) ORDER BY detected_at, id LIMIT 25",
            args.runs,
        ),
    }

    print()
    print(f"| page | median server time (ms) | queries |")
    print("| --- | --- | --- |")
    for name, milliseconds, queries in rows:
        print(f"| {name} | {milliseconds} | {queries} |")
    print()
    print("| floor: the query alone | median (ms) |")
    print("| --- | --- |")
    for name, milliseconds in floors.items():
        print(f"| {name} | {milliseconds} |")
    print()
    print(f"Triage cycle: queued {outcome.queued} entries in {cycle_ms} ms (one run, includes re-classification).")

    if not args.keep:
        drop_database(admin_url, BENCH_DATABASE)


if __name__ == "__main__":
    main()
