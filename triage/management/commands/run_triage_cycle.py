from datetime import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from triage.services.cycles import cycle_run
from triage.services.slots import next_slot_start


def parse_moment(text: str) -> datetime:
    """Parse an ISO 8601 time; a time without an offset is read in the site's zone."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise CommandError(f"Invalid --at value {text!r}: expected ISO 8601, such as 2017-11-30T12:00.") from error
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Run the triage cycle of one 30-minute slot by hand."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--at",
            help="A moment inside the slot to run, ISO 8601; without an offset it is site time. Default: now.",
        )
        parser.add_argument("--batch-size", type=int, help="Maximum entries to queue. Default: the setting.")

    def handle(self, *args, **options) -> None:
        now = parse_moment(options["at"]) if options["at"] else timezone.now()
        outcome = cycle_run(now=now, batch_size=options["batch_size"])
        slot = timezone.localtime(outcome.slot_start).strftime("%Y-%m-%d %H:%M %Z")
        if outcome.ran:
            self.stdout.write(f"Cycle for slot {slot}: queued {outcome.queued} entries.")
        else:
            next_slot = timezone.localtime(next_slot_start(outcome.slot_start)).strftime("%Y-%m-%d %H:%M %Z")
            self.stdout.write(
                f"Cycle for slot {slot} already ran, so nothing was done. "
                f"Entries that arrived since then are queued by the next cycle, at {next_slot}."
            )
