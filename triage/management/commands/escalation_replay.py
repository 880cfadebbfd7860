"""Replay an escalation policy over recorded history and print what it would have escalated."""

import re
import time
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from backlog.models import BacklogEntry
from triage.models import EscalationPolicy
from triage.services.replay import BUCKETS, read_only, replay_policy

STEP_PATTERN = re.compile(r"^(\d+)([mhd])$")
STEP_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_step(text: str) -> timedelta:
    """Parse a step such as 30m, 2h or 1d."""
    match = STEP_PATTERN.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"Invalid step {text!r}: use a positive number with m, h or d, such as 30m.")
    return timedelta(**{STEP_UNITS[match.group(2)]: int(match.group(1))})


def parse_moment(text: str) -> datetime:
    """Parse an ISO 8601 date or time; one without an offset is read in the site's time zone."""
    value = datetime.fromisoformat(text)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


class Command(BaseCommand):
    help = (
        "Replay an escalation policy over recorded entries, pauses and closing times, and print "
        "how many entries each level would have escalated, and when. Writes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--policy", required=True, help="Name of the policy; it need not be active.")
        parser.add_argument(
            "--from", dest="start", required=True,
            help="Start of the window, ISO 8601; without an offset it is read in the site's time zone.",
        )
        parser.add_argument("--to", dest="end", required=True, help="End of the window, ISO 8601, like --from.")
        parser.add_argument("--source", default="", help="Replay only the entries of this source.")
        parser.add_argument("--step", default="30m", help="Interval between sweeps, such as 30m, 2h or 1d (default 30m).")
        parser.add_argument("--bucket", choices=BUCKETS, default="month", help="Histogram period (default month).")

    def handle(self, *args, **options) -> None:
        policy = EscalationPolicy.objects.select_related("calendar").filter(name=options["policy"]).first()
        if policy is None:
            names = ", ".join(EscalationPolicy.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"Policy {options['policy']!r} not found. Stored policies: {names}.")
        try:
            start, end = parse_moment(options["start"]), parse_moment(options["end"])
            step = parse_step(options["step"])
        except ValueError as error:
            raise CommandError(str(error)) from error

        entries = BacklogEntry.objects.all()
        if options["source"]:
            entries = entries.filter(source=options["source"])

        started = time.monotonic()
        # The replay runs in a transaction that is always rolled back, and any writing
        # statement raises, so recorded history cannot change.
        try:
            with transaction.atomic(), read_only():
                outcome = replay_policy(policy, entries, start=start, end=end, step=step, bucket=options["bucket"])
                transaction.set_rollback(True)
        except ValueError as error:
            raise CommandError(str(error)) from error
        seconds = time.monotonic() - started

        local = timezone.get_current_timezone()
        self.stdout.write(
            f"Policy {policy.name}: {outcome.entries} entries detected before {end.astimezone(local):%Y-%m-%d %H:%M}, "
            f"window {start.astimezone(local):%Y-%m-%d %H:%M} to {end.astimezone(local):%Y-%m-%d %H:%M} "
            f"({local}), sweeps every {options['step']}."
        )
        self.stdout.write("")
        self.stdout.write("| level | cutoff (min) | would escalate | due after closing | first | last |")
        self.stdout.write("| --- | --- | --- | --- | --- | --- |")
        for level, minutes in policy.cutoffs().items():
            first = outcome.first_fired.get(level)
            last = outcome.last_fired.get(level)
            self.stdout.write(
                f"| {level} | {minutes} | {outcome.fired.get(level, 0)} | {outcome.closed_first.get(level, 0)} | "
                f"{first.astimezone(local):%Y-%m-%d %H:%M} | {last.astimezone(local):%Y-%m-%d %H:%M} |"
                if first and last
                else f"| {level} | {minutes} | 0 | {outcome.closed_first.get(level, 0)} | - | - |"
            )
        self.stdout.write("")
        levels = list(policy.cutoffs())
        self.stdout.write(f"| {options['bucket']} | " + " | ".join(f"level {level}" for level in levels) + " |")
        self.stdout.write("| --- | " + " | ".join("---" for _ in levels) + " |")
        label = "%Y-%m" if options["bucket"] == "month" else "%Y-%m-%d"
        for bucket_start in sorted(outcome.histogram):
            counts = outcome.histogram[bucket_start]
            self.stdout.write(
                f"| {bucket_start.strftime(label)} | " + " | ".join(str(counts.get(level, 0)) for level in levels) + " |"
            )
        unsettled = sum(outcome.unsettled.values())
        if unsettled:
            per_level = ", ".join(f"level {level}: {count}" for level, count in sorted(outcome.unsettled.items()))
            self.stdout.write("")
            self.stdout.write(
                self.style.WARNING(f"{unsettled} due times could not be computed and are not counted ({per_level}).")
            )
        self.stdout.write("")
        self.stdout.write(f"Replayed in {seconds:.2f} s.")
