"""Benchmark the escalation sweep on 100,000 open entries with clocks, in PostgreSQL.

Usage (PostgreSQL only; the database is created and dropped by the script):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
        .venv/bin/python bench/sweep_bench.py --open 100000

It loads the entries with COPY and their clocks with one INSERT ... SELECT whose level 1
due times lie between one hour and thirty days ahead, so a sweep at the load time finds
nothing due: the steady state of a sweep every few minutes. It reports the median of
several steady-state sweeps, then moves every level 1 due time into the past and times the
one sweep that escalates all entries at once.
"""

import argparse
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

BENCH_DATABASE = "triage_desk_sweep_bench"
TYPES = ["demand", "allocation", "processing", "mixed", "unclassified"]
STAGES = ["awaiting_approval", "awaiting_handover", "in_transit"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=100_000, help="Open entries to load (default 100000).")
    parser.add_argument("--runs", type=int, default=7, help="Steady-state sweeps; the median is reported (default 7).")
    parser.add_argument("--keep", action="store_true", help="Keep the benchmark database afterwards.")
    return parser.parse_args()


def load_entries(*, open_count: int, now: datetime) -> float:
    """COPY the open entries into the table; return the seconds it took."""
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
        "classification_reasons, escalation_level, note, version, created_at, updated_at"
    )
    started = time.monotonic()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(f"COPY backlog_backlogentry ({columns}) FROM STDIN") as copy:
            for number in range(open_count):
                detected = now - timedelta(minutes=rng.randint(1, 60 * 24))
                copy.write_row(
                    (
                        "bench", f"S-{number:08d}", rng.choice(channel_ids), f"Customer {number}", "", "SP",
                        detected, False, "{}", detected, rng.choice(STAGES), "open", rng.choice(TYPES),
                        "[]", 0, "", 1, now, now,
                    )
                )
        cursor.execute("ANALYZE backlog_backlogentry")
    return time.monotonic() - started


def load_clocks(*, policy_id: int, now: datetime) -> float:
    """Insert a clock per entry with level 1 due 1 hour to 30 days after `now`; return the seconds."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        # The level 2 and 3 due times keep the policy's order: one and two days after level 1.
        cursor.execute(
            """
            INSERT INTO triage_escalationclock
                (entry_id, policy_id, level1_due_at, level2_due_at, level3_due_at, warning_at, computed_at)
            SELECT id, %s, due, due + interval '1 day', due + interval '2 days', NULL, %s
            FROM (
                SELECT id, %s + interval '1 hour' + random() * interval '30 days' AS due
                FROM backlog_backlogentry
            ) AS spread
            """,
            [policy_id, now, now],
        )
        cursor.execute("ANALYZE triage_escalationclock")
    return time.monotonic() - started


def timed_sweep(now: datetime) -> tuple[float, int, dict[int, int]]:
    """Run one sweep; return its seconds, its query count and the entries escalated per level."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from triage.services.escalations import escalation_sweep

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        outcome = escalation_sweep(now=now)
        seconds = time.perf_counter() - started
    return seconds, len(queries.captured_queries), outcome.escalated


def main() -> None:
    args = parse_args()
    admin_url, bench_url = bench_database_url(BENCH_DATABASE)
    recreate_database(admin_url, BENCH_DATABASE)
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")
    os.environ["DEBUG"] = "false"

    import django

    django.setup()
    import logging

    from django.core.management import call_command
    from django.db import connection

    from triage.models import Escalation, EscalationPolicy

    # The sweep logs one line per run; the timings below are what this script reports.
    logging.getLogger("triage.services.escalations").setLevel(logging.WARNING)
    call_command("migrate", verbosity=0)
    now = datetime.now(UTC)
    policy = EscalationPolicy.objects.create(
        name="Bench ladder", level1_minutes=24 * 60, level2_minutes=48 * 60, level3_minutes=72 * 60
    )
    entry_seconds = load_entries(open_count=args.open, now=now)
    clock_seconds = load_clocks(policy_id=policy.pk, now=now)
    print(f"Loaded {args.open:,} open entries with COPY in {entry_seconds:.1f} s and their clocks in {clock_seconds:.1f} s.")

    # The first sweep warms the connection and the caches; it is not counted.
    timed_sweep(now)
    samples = []
    steady_queries = 0
    for run in range(args.runs):
        seconds, steady_queries, escalated = timed_sweep(now + timedelta(minutes=run))
        assert sum(escalated.values()) == 0, escalated
        samples.append(seconds)

    with connection.cursor() as cursor:
        cursor.execute("UPDATE triage_escalationclock SET level1_due_at = %s", [now - timedelta(minutes=1)])
        cursor.execute("ANALYZE triage_escalationclock")
    mass_seconds, mass_queries, escalated = timed_sweep(now)
    assert escalated.get(1) == args.open, escalated
    assert Escalation.objects.filter(level=1).count() == args.open

    print()
    print("| sweep | seconds | queries | escalated |")
    print("| --- | --- | --- | --- |")
    print(
        f"| steady state, median of {args.runs} (min {min(samples):.3f}, max {max(samples):.3f}) | "
        f"{statistics.median(samples):.3f} | {steady_queries} | 0 |"
    )
    print(f"| all entries cross level 1 at once | {mass_seconds:.2f} | {mass_queries} | {escalated.get(1, 0):,} |")

    if not args.keep:
        drop_database(admin_url, BENCH_DATABASE)


if __name__ == "__main__":
    main()
