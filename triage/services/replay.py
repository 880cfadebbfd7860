"""Replay an escalation policy over recorded history, to see what it would have done. Reads only.

For each entry detected before the end of the window, the level due times come from the same
clock arithmetic as the live ladder (`due_at`, over the entry's recorded pauses). A level
counts as fired at the first sweep at or after its due time, sweeps running every `step` from
the window's start, when that sweep lies inside the window and the entry was still open then.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from backlog.models import BacklogEntry
from triage.models import EntryPause, EscalationPolicy

from .clock import Pause, calendar_of, due_at

# Entries per read: the iterator fetches this many rows at a time and their pauses come in
# one query per batch, so memory stays flat however long the history is.
REPLAY_CHUNK_SIZE = 2000
BUCKETS = ("week", "month")
WRITE_KEYWORDS = ("INSERT", "UPDATE", "DELETE", "CREATE", "ALTER", "DROP", "TRUNCATE", "COPY")


class ReplayWriteError(RuntimeError):
    """A statement that writes ran while a replay required the connection to read only."""


@dataclass
class ReplayOutcome:
    start: datetime
    end: datetime
    step: timedelta
    bucket: str
    entries: int = 0
    # Entries that reached each level inside the window.
    fired: dict[int, int] = field(default_factory=dict)
    # Levels that fell due inside the window after the entry had closed, so never fired.
    closed_first: dict[int, int] = field(default_factory=dict)
    # Levels with no due time, because the calendar has no open hour in ten years.
    unsettled: dict[int, int] = field(default_factory=dict)
    first_fired: dict[int, datetime] = field(default_factory=dict)
    last_fired: dict[int, datetime] = field(default_factory=dict)
    # {bucket start (local date): {level: count}}
    histogram: dict[date, Counter] = field(default_factory=lambda: defaultdict(Counter))


def replay_policy(
    policy: EscalationPolicy,
    entries: QuerySet[BacklogEntry],
    *,
    start: datetime,
    end: datetime,
    step: timedelta,
    bucket: str = "month",
) -> ReplayOutcome:
    """Compute when each level of `policy` would have fired for `entries` between `start` and `end`.

    Only entries in the policy's scope (backlog type and channel, when the policy sets them)
    and detected before `end` count. Level 3 fires only on high-impact channels, as in the
    live ladder. Nothing is written.
    """
    if end <= start:
        raise ValueError(f"The window must end after it starts: {start.isoformat()} to {end.isoformat()}.")
    if step <= timedelta(0):
        raise ValueError(f"Invalid step {step}: it must be positive.")
    if bucket not in BUCKETS:
        raise ValueError(f"Invalid bucket {bucket!r}: use one of {', '.join(BUCKETS)}.")

    calendar = calendar_of(policy.calendar)
    cutoffs = {level: timedelta(minutes=minutes) for level, minutes in policy.cutoffs().items()}
    outcome = ReplayOutcome(start=start, end=end, step=step, bucket=bucket)
    zone = ZoneInfo(settings.TIME_ZONE)

    scoped = entries.filter(detected_at__lt=end)
    if policy.backlog_type:
        scoped = scoped.filter(backlog_type=policy.backlog_type)
    if policy.channel_id:
        scoped = scoped.filter(channel_id=policy.channel_id)
    rows = scoped.order_by("pk").values_list("pk", "detected_at", "closed_at", "channel__high_impact")

    for batch in _batches(rows.iterator(chunk_size=REPLAY_CHUNK_SIZE), REPLAY_CHUNK_SIZE):
        pauses = _pauses_of([row[0] for row in batch])
        for entry_id, detected_at, closed_at, high_impact in batch:
            outcome.entries += 1
            for level, cutoff in cutoffs.items():
                if level == 3 and not high_impact:
                    continue
                try:
                    due = due_at(calendar, detected_at=detected_at, pauses=pauses.get(entry_id, ()), cutoff=cutoff)
                except ValueError:
                    # A calendar with no open hour in ten years gives no due time, and the
                    # live sweep skips such a clock too, so these levels are counted apart.
                    outcome.unsettled[level] = outcome.unsettled.get(level, 0) + 1
                    continue
                fired_at = sweep_after(due, start=start, step=step) if due is not None else None
                if fired_at is None or fired_at > end:
                    continue
                if closed_at is not None and closed_at <= fired_at:
                    outcome.closed_first[level] = outcome.closed_first.get(level, 0) + 1
                    continue
                _count(outcome, level, fired_at, zone)
    return outcome


def sweep_after(due: datetime, *, start: datetime, step: timedelta) -> datetime | None:
    """Return the first sweep at or after `due`, sweeps running every `step` from `start`.

    A level that fell due before `start` returns None: it belongs to an earlier window.
    """
    if due < start:
        return None
    return start + step * math.ceil((due - start) / step)


@contextmanager
def read_only() -> Iterator[None]:
    """Raise ReplayWriteError on any statement that writes, for the length of the block."""

    def reject_writes(execute, sql, params, many, context):
        if sql.lstrip().split(None, 1)[0].upper() in WRITE_KEYWORDS:
            raise ReplayWriteError(f"A replay must not write, but this statement would: {sql[:80]}")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(reject_writes):
        yield


def _count(outcome: ReplayOutcome, level: int, fired_at: datetime, zone: ZoneInfo) -> None:
    outcome.fired[level] = outcome.fired.get(level, 0) + 1
    outcome.first_fired[level] = min(outcome.first_fired.get(level, fired_at), fired_at)
    outcome.last_fired[level] = max(outcome.last_fired.get(level, fired_at), fired_at)
    local_day = fired_at.astimezone(zone).date()
    if outcome.bucket == "month":
        bucket_start = local_day.replace(day=1)
    else:
        bucket_start = local_day - timedelta(days=local_day.weekday())
    outcome.histogram[bucket_start][level] += 1


def _batches(rows: Iterator[tuple], size: int) -> Iterator[list[tuple]]:
    batch: list[tuple] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _pauses_of(entry_ids: Sequence[int]) -> dict[int, list[Pause]]:
    pauses: dict[int, list[Pause]] = defaultdict(list)
    query = EntryPause.objects.filter(entry_id__in=entry_ids).order_by("entry_id", "started_at")
    for entry_id, started, ended in query.values_list("entry_id", "started_at", "ended_at"):
        pauses[entry_id].append((started, ended))
    return pauses
