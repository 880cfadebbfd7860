from django.core.management.base import BaseCommand, CommandError

from backlog.models import BacklogEntry
from inbound.selectors import contact_figures, first_customer_update_at, first_triage_or_detection_at

REFERENCES = {
    "first-update": first_customer_update_at,
    "triage-or-detection": first_triage_or_detection_at,
}


class Command(BaseCommand):
    help = "Print repeat-contact figures, and contacts per entry before and after a reference time."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", help="Only entries of this source, such as olist.")
        parser.add_argument(
            "--reference",
            choices=sorted(REFERENCES),
            default="first-update",
            help="What 'before' and 'after' are measured against. Default: the first customer update.",
        )

    def handle(self, *args, **options) -> None:
        entries = BacklogEntry.objects.all()
        if options["source"]:
            entries = entries.filter(source=options["source"])
            if not entries.exists():
                raise CommandError(f"No entry has the source {options['source']!r}.")

        figures = contact_figures(entries, updates_at=REFERENCES[options["reference"]]())

        def ratio(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        self.stdout.write(f"entries: {figures.entries}")
        self.stdout.write(f"entries with contacts: {figures.entries_with_contacts}")
        self.stdout.write(f"contacts: {figures.contacts} ({ratio(figures.contacts_per_entry)} per contacted entry)")
        self.stdout.write(f"entries with 2 or more contacts: {figures.repeat_entries} ({ratio(figures.repeat_share)})")
        self.stdout.write(
            f"reference {options['reference']}: {figures.entries_with_reference} entries; "
            f"contacts before {figures.contacts_before} ({ratio(figures.contacts_per_entry_before)} per entry), "
            f"after {figures.contacts_after} ({ratio(figures.contacts_per_entry_after)} per entry)"
        )
