"""Export open backlog entries to a CSV file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backlog.services.export import ExportFilterError, export_csv_lines, export_queryset


class Command(BaseCommand):
    help = (
        "Write open backlog entries to a CSV file (UTF-8 with BOM). The filters are those "
        "of the dashboard; without any, every open entry is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output",
            type=Path,
            required=True,
            help="The CSV file to write; - writes to standard output.",
        )
        parser.add_argument("--channel", help="Channel code.")
        parser.add_argument(
            "--type", help="Backlog type: demand, allocation, processing, mixed or unclassified."
        )
        parser.add_argument("--stage", help="Stage, such as awaiting_handover.")
        parser.add_argument("--owner", help="User name of the owner.")
        parser.add_argument("--unowned", action="store_true", help="Only entries without an owner.")
        parser.add_argument(
            "--overdue", action="store_true", help="Only entries whose ETA has passed."
        )

    def handle(self, *args, **options) -> None:
        params = {
            name: options[name] for name in ("channel", "type", "stage", "owner") if options[name]
        }
        params.update({name: "1" for name in ("unowned", "overdue") if options[name]})
        try:
            queryset = export_queryset(params, now=timezone.now())
        except ExportFilterError as exc:
            raise CommandError(str(exc)) from exc

        lines = 0
        if str(options["output"]) == "-":
            for line in export_csv_lines(queryset):
                self.stdout.write(line, ending="")
                lines += 1
        else:
            with options["output"].open("w", encoding="utf-8", newline="") as handle:
                for line in export_csv_lines(queryset):
                    handle.write(line)
                    lines += 1
            self.stdout.write(f"Wrote {lines - 1} entries to {options['output']}.")
