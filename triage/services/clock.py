"""The escalation clock: when each level of the ladder falls due for an open entry.

An entry's age counts from its detection, in wall-clock time or in the open hours of its
policy's calendar, and stands still while the entry sits in a paused status. Due times are
computed here, once per change, and stored on EscalationClock rows so that the sweep only
compares stored instants with the time.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from backlog.models import OPEN_STATUSES, BacklogEntry
from triage.calendars import BusinessCalendar, OpeningWindow, always_open
from triage.models import EntryPause, EscalationClock, EscalationPolicy, SlaCalendar

logger = logging.getLogger(__name__)

Pause = tuple[datetime, datetime | None]


def calendar_of(sla_calendar: SlaCalendar | None) -> BusinessCalendar:
    """Build the calendar arithmetic of a stored calendar; None means wall-clock time."""
    zone = ZoneInfo(settings.TIME_ZONE)
    if sla_calendar is None:
        return always_open(zone)
    windows = opening_windows(sla_calendar.opening_hours)
    holidays = frozenset(_holiday(day) for day in sla_calendar.holidays or [])
    return BusinessCalendar(zone=zone, windows=windows, holidays=holidays)


def opening_windows(data: object) -> tuple[OpeningWindow, ...]:
    """Read stored opening hours, raising ValueError with a message a manager can act on."""
    example = 'such as [{"weekday": 0, "starts": "09:00", "ends": "17:00"}]'
    if not isinstance(data, list):
        raise ValueError(f"Opening hours must be a list of windows, {example}.")
    windows = []
    for position, window in enumerate(data, start=1):
        if not isinstance(window, dict) or set(window) != {"weekday", "starts", "ends"}:
            raise ValueError(
                f"Window {position} must have exactly the keys weekday, starts and ends, {example}."
            )
        weekday = window["weekday"]
        if not isinstance(weekday, int) or isinstance(weekday, bool):
            raise ValueError(f"Window {position}: weekday must be a number from 0 (Monday) to 6 (Sunday).")
        windows.append(
            OpeningWindow(
                weekday=weekday,
                starts=_clock(window["starts"], position, "starts"),
                ends=_clock(window["ends"], position, "ends"),
            )
        )
    _reject_overlaps(windows)
    return tuple(windows)


def _clock(text: object, position: int, key: str) -> time:
    # "24:00" is the usual way to write the end of the day; it is stored as midnight.
    if text == "24:00" and key == "ends":
        return time(0)
    try:
        return time.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"Window {position}: {key} must be a time such as 09:00, not {text!r}.") from None


def _reject_overlaps(windows: list[OpeningWindow]) -> None:
    by_day: dict[int, list[OpeningWindow]] = defaultdict(list)
    for window in windows:
        by_day[window.weekday].append(window)
    for weekday, day_windows in by_day.items():
        day_windows.sort(key=lambda window: window.starts)
        for earlier, later in zip(day_windows, day_windows[1:]):
            if earlier.ends == time(0) or later.starts < earlier.ends:
                raise ValueError(
                    f"Windows on weekday {weekday} overlap: {earlier.starts:%H:%M}-{earlier.ends:%H:%M} "
                    f"and {later.starts:%H:%M}-{later.ends:%H:%M}. Merge them into one."
                )


def _holiday(text: object) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"Holiday {text!r} must be a date such as 2026-12-25.") from None


def policy_for(entry: BacklogEntry, policies: Sequence[EscalationPolicy]) -> EscalationPolicy | None:
    """Pick the most specific active policy: type and channel, then type, then channel, then neither."""
    ranked = []
    for policy in policies:
        if not policy.active:
            continue
        if policy.backlog_type and policy.backlog_type != entry.backlog_type:
            continue
        if policy.channel_id and policy.channel_id != entry.channel_id:
            continue
        ranked.append((bool(policy.backlog_type) * 2 + bool(policy.channel_id), policy.pk, policy))
    if not ranked:
        return None
    return max(ranked, key=lambda item: (item[0], -item[1]))[2]


def due_at(
    calendar: BusinessCalendar, *, detected_at: datetime, pauses: Sequence[Pause], cutoff: timedelta
) -> datetime | None:
    """Return when the unpaused age reaches `cutoff`, or None while a pause has no end.

    Walks forward from detection through the pauses in order, spending the cutoff on the
    open time between them, so overlapping pauses count once.
    """
    cursor = detected_at
    remaining = cutoff
    for started, ended in _merged(pauses):
        if ended is not None and ended <= cursor:
            continue
        if started > cursor:
            available = calendar.open_time_between(cursor, started)
            if available >= remaining:
                return calendar.add_open_time(cursor, remaining)
            remaining -= available
        if ended is None:
            return None
        cursor = max(cursor, ended)
    return calendar.add_open_time(cursor, remaining)


def _merged(pauses: Sequence[Pause]) -> list[Pause]:
    """Sort pauses by start and join those that overlap; an open pause swallows what follows."""
    merged: list[list] = []
    for started, ended in sorted(pauses, key=lambda pause: pause[0]):
        if merged and (merged[-1][1] is None or started <= merged[-1][1]):
            if merged[-1][1] is not None:
                merged[-1][1] = None if ended is None else max(merged[-1][1], ended)
            continue
        merged.append([started, ended])
    return [(started, ended) for started, ended in merged]


def clock_values(
    entry: BacklogEntry, *, policy: EscalationPolicy | None, calendar: BusinessCalendar, pauses: Sequence[Pause]
) -> dict[str, datetime | None]:
    """Return the due times of every level and the next warning, as EscalationClock fields."""
    values: dict[str, datetime | None] = {
        "level1_due_at": None,
        "level2_due_at": None,
        "level3_due_at": None,
        "warning_at": None,
    }
    if policy is None:
        return values

    for level, minutes in policy.cutoffs().items():
        if level == 3 and not entry.channel.high_impact:
            continue
        values[f"level{level}_due_at"] = due_at(
            calendar, detected_at=entry.detected_at, pauses=pauses, cutoff=timedelta(minutes=minutes)
        )

    next_level = entry.escalation_level + 1
    next_minutes = policy.cutoffs().get(next_level)
    if policy.warning_minutes and next_minutes and values.get(f"level{next_level}_due_at"):
        values["warning_at"] = due_at(
            calendar,
            detected_at=entry.detected_at,
            pauses=pauses,
            cutoff=timedelta(minutes=max(next_minutes - policy.warning_minutes, 0)),
        )
    return values


def clocks_refresh(entries: Sequence[BacklogEntry], *, now: datetime) -> int:
    """Recompute and store the escalation clocks of the entries; return how many were stored.

    The entries are read again under a row lock, the one a status change or an import
    holds while it drops a clock, so a clock computed from facts that have just changed is
    never stored. Entries locked by another transaction are skipped and picked up by the next
    sweep. Closed and resolved entries get no clock, so the sweep never sees them. Runs a
    fixed number of queries for the whole batch.
    """
    with transaction.atomic():
        current = list(
            BacklogEntry.objects.filter(pk__in=[entry.pk for entry in entries])
            .select_related("channel")
            .select_for_update(of=("self",), skip_locked=True)
        )
        entry_ids = [entry.pk for entry in current]
        policies = list(EscalationPolicy.objects.filter(active=True).select_related("calendar"))
        calendars = {policy.pk: calendar_of(policy.calendar) for policy in policies}
        pauses: dict[int, list[Pause]] = defaultdict(list)
        for entry_id, started, ended in EntryPause.objects.filter(entry_id__in=entry_ids).values_list(
            "entry_id", "started_at", "ended_at"
        ):
            pauses[entry_id].append((started, ended))

        clocks = []
        for entry in current:
            if entry.status not in OPEN_STATUSES:
                continue
            policy = policy_for(entry, policies)
            calendar = calendars[policy.pk] if policy else always_open(ZoneInfo(settings.TIME_ZONE))
            try:
                values = clock_values(entry, policy=policy, calendar=calendar, pauses=pauses[entry.pk])
            except ValueError as error:
                # One unusable policy or calendar must not stop the sweep for every other entry.
                logger.error(
                    "Escalation clock of entry %s under policy %s failed: %s", entry.pk, policy.pk if policy else None, error
                )
                continue
            clocks.append(EscalationClock(entry_id=entry.pk, policy=policy, computed_at=now, **values))

        EscalationClock.objects.filter(entry_id__in=entry_ids).delete()
        EscalationClock.objects.bulk_create(clocks, batch_size=1000, ignore_conflicts=True)
    return len(clocks)


def clocks_forget(entry_ids: Sequence[int]) -> None:
    """Drop stored clocks whose inputs changed; the next sweep computes them again."""
    EscalationClock.objects.filter(entry_id__in=entry_ids).delete()
