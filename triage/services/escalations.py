"""The escalation sweep: entries whose age passed a cutoff climb the ladder, once per level."""

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction

from backlog.models import OPEN_STATUSES, BacklogEntry, TimelineEvent
from triage.models import Escalation, EscalationClock

from .clock import clocks_forget, clocks_refresh
from .notices import notices_queue

logger = logging.getLogger(__name__)

# Open entries without a clock computed per sweep. Each costs calendar arithmetic in Python
# (well under a millisecond in wall-clock mode), so a batch stays far below the interval.
CLOCK_BATCH_SIZE = 5000
LEVELS = (1, 2, 3)


@dataclass
class SweepOutcome:
    clocks_computed: int = 0
    # Entries that reached each level in this sweep.
    escalated: dict[int, int] = field(default_factory=dict)


def escalation_sweep(*, now: datetime) -> SweepOutcome:
    """Compute missing clocks, then record each level that open entries reached by `now`.

    Each level is one transaction: an INSERT ... SELECT of the due rows that skips an
    (entry, level) already recorded, the matching UPDATE of the entries' level, and their
    timeline events. A second sweep, a second worker or a retried task therefore records
    nothing twice, and an entry closed before the sweep has no clock and never escalates.
    """
    outcome = SweepOutcome()
    outcome.clocks_computed = _refresh_missing_clocks(now=now)
    escalated_ids: list[int] = []
    for level in LEVELS:
        entry_ids = _escalate_level(level, now=now)
        outcome.escalated[level] = len(entry_ids)
        escalated_ids.extend(entry_ids)

    # The warning on a clock is for the level after the entry's current one, so the clocks
    # of entries that just climbed are computed again at the start of the next sweep.
    for start in range(0, len(escalated_ids), 1000):
        clocks_forget(escalated_ids[start : start + 1000])
    logger.info(
        "Escalation sweep at %s: %d clocks computed, escalated %s.",
        now.isoformat(),
        outcome.clocks_computed,
        outcome.escalated,
    )
    return outcome


def _refresh_missing_clocks(*, now: datetime) -> int:
    entries = list(
        BacklogEntry.objects.open()
        .filter(clock__isnull=True)
        .select_related("channel")
        .order_by("detected_at", "id")[:CLOCK_BATCH_SIZE]
    )
    if not entries:
        return 0
    return clocks_refresh(entries, now=now)


def _escalate_level(level: int, *, now: datetime) -> list[int]:
    """Record `level` for every open entry whose due time for it passed; return their ids."""
    entry_table = BacklogEntry._meta.db_table
    clock_table = EscalationClock._meta.db_table
    escalation_table = Escalation._meta.db_table
    event_table = TimelineEvent._meta.db_table
    due_column = f"level{level}_due_at"
    open_statuses = ", ".join(["%s"] * len(OPEN_STATUSES))

    changes = json.dumps({"escalation_level": {"old": level - 1, "new": level}})
    reason = f"Age passed the level {level} cutoff."
    # PostgreSQL stores JSON as jsonb and casts no text parameter to it by itself.
    json_parameter = "CAST(%s AS jsonb)" if connection.vendor == "postgresql" else "%s"

    # Raw SQL gets the value the ORM would store: on SQLite that is UTC text, which a
    # time with another offset would not compare with correctly.
    moment = connection.ops.adapt_datetimefield_value(now)

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {escalation_table} (entry_id, level, due_at, fired_at, policy_id, status)
            SELECT clock.entry_id, %s, clock.{due_column}, %s, clock.policy_id, 'open'
            FROM {clock_table} AS clock
            JOIN {entry_table} AS entry ON entry.id = clock.entry_id
            WHERE clock.{due_column} <= %s
              AND entry.status IN ({open_statuses})
              AND entry.escalation_level < %s
            ON CONFLICT (entry_id, level) DO NOTHING
            RETURNING id, entry_id
            """,
            [level, moment, moment, *OPEN_STATUSES, level],
        )
        inserted = cursor.fetchall()
        if not inserted:
            return []
        escalation_ids = [row[0] for row in inserted]
        entry_ids = [row[1] for row in inserted]

        # The IDs come from the database, so they are integers; chunks keep SQLite's
        # parameter count low.
        for start in range(0, len(entry_ids), 1000):
            chunk = entry_ids[start : start + 1000]
            placeholders = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"UPDATE {entry_table} SET escalation_level = %s WHERE id IN ({placeholders}) AND escalation_level < %s",
                [level, *chunk, level],
            )
            cursor.execute(
                f"""
                INSERT INTO {event_table} (entry_id, at, actor_id, kind, changes, reason)
                SELECT id, %s, NULL, %s, {json_parameter}, %s FROM {entry_table} WHERE id IN ({placeholders})
                """,
                [moment, TimelineEvent.Kind.ESCALATED.value, changes, reason, *chunk],
            )
        notices_queue(escalation_ids, level=level, now=now)
    return entry_ids
