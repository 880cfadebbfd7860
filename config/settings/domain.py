"""Thresholds and cadences of the backlog-recovery loop, each overridable from the environment."""

from config.env import env

# Triage cycle: one per 30-minute slot, at :00 and :30 in the site's time zone.
TRIAGE_SLOT_MINUTES = 30
TRIAGE_CYCLE_BATCH_SIZE = env.int("TRIAGE_CYCLE_BATCH_SIZE", default=25)

# Classification signals. Hours are wall-clock hours.
CLASSIFICATION = {
    # Processing: an order waits for payment approval longer than this.
    "approval_target_hours": env.float("CLASSIFY_APPROVAL_TARGET_HOURS", default=24.0),
    # Processing: grace after the seller's hand-over limit before the signal fires.
    "handover_grace_hours": env.float("CLASSIFY_HANDOVER_GRACE_HOURS", default=0.0),
    # Processing: grace after the promised delivery date for an order not yet delivered.
    "promise_grace_hours": env.float("CLASSIFY_PROMISE_GRACE_HOURS", default=0.0),
    # Demand-driven: a day's intake for one category, seller or region counts as a surge
    # when it is at least this multiple of the trailing daily mean ...
    "surge_factor": env.float("CLASSIFY_SURGE_FACTOR", default=2.0),
    # ... over this many preceding days ...
    "surge_baseline_days": env.int("CLASSIFY_SURGE_BASELINE_DAYS", default=28),
    # ... and at least this many orders, so one order on a quiet day is no surge.
    "surge_min_orders": env.int("CLASSIFY_SURGE_MIN_ORDERS", default=5),
}

# Open entries whose classification is older than this are re-classified by a periodic job,
# so time-driven signals fire at least once a shift.
RECLASSIFY_AFTER_HOURS = env.float("RECLASSIFY_AFTER_HOURS", default=8.0)

# Age buckets of the dashboard, in hours: an entry falls in the first bucket whose upper
# bound exceeds its age; the last bucket has no bound.
AGE_BUCKET_HOURS = [4, 24, 72, 168]

# Statuses whose time does not count towards an entry's escalation age. Leaving one of them
# resumes the clock where it stood; no other action resets or holds it.
ESCALATION_PAUSED_STATUSES = env.list("ESCALATION_PAUSED_STATUSES", default=["on_hold"])

# Capacity flags: a team whose entries reach the same escalation level at least
# CAPACITY_FLAG_MISSES times within the last CAPACITY_FLAG_WINDOW_DAYS days (wall-clock days)
# is flagged for more capacity or tighter rules.
CAPACITY_FLAG_MISSES = env.int("CAPACITY_FLAG_MISSES", default=3)
CAPACITY_FLAG_WINDOW_DAYS = env.int("CAPACITY_FLAG_WINDOW_DAYS", default=7)
