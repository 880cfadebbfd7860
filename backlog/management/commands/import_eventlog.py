"""Import support tickets from an event-log CSV (case id, activity, timestamp, attributes)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backlog.services.imports.eventlog import (
    DEFAULT_CHANNEL,
    DEFAULT_SOURCE,
    DEFAULT_SOURCE_TZ,
    HELPDESK_DATE_FORMAT,
    HELPDESK_MAPPING,
    EventLogOptions,
    import_eventlog,
    mapping_from_json,
)
from backlog.services.imports.report import errors_text


class Command(BaseCommand):
    help = (
        "Import tickets from an event log: each case becomes one entry and each waiting stretch "
        "a pause. Re-importing the same file changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The event-log CSV file, one row per event.")
        parser.add_argument(
            "--source", default=DEFAULT_SOURCE, help=f"Source name of the entries (default {DEFAULT_SOURCE})."
        )
        parser.add_argument(
            "--channel",
            default=DEFAULT_CHANNEL,
            help=f"Channel code of the entries, created if missing (default {DEFAULT_CHANNEL}).",
        )
        parser.add_argument(
            "--mapping",
            type=Path,
            help=(
                'JSON file {"activities": {"<activity>": "created" | "taken_in_charge" | "waiting" | '
                '"resolved" | "closed" | null}, "columns": {"case": ..., "activity": ..., "timestamp": ...}}. '
                "Default: the activities of the Italian help-desk log."
            ),
        )
        parser.add_argument(
            "--date-format",
            default="",
            help=(
                "strptime format of the timestamps, such as %%d.%%m.%%Y %%H:%%M. "
                f"Default: {HELPDESK_DATE_FORMAT.replace('%', '%%')} or ISO 8601."
            ),
        )
        parser.add_argument(
            "--source-tz",
            default=DEFAULT_SOURCE_TZ,
            help=f"Time zone of timestamps without an offset (default {DEFAULT_SOURCE_TZ}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Validate and count, and write nothing.")

    def handle(self, *args, **options) -> None:
        path: Path = options["path"]
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        mapping = HELPDESK_MAPPING
        if options["mapping"]:
            try:
                mapping = mapping_from_json(options["mapping"].read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                raise CommandError(f"Invalid --mapping {options['mapping']}: {error}") from error

        report = import_eventlog(
            path.read_bytes(),
            options=EventLogOptions(
                source=options["source"],
                channel=options["channel"],
                mapping=mapping,
                date_format=options["date_format"],
                source_tz=options["source_tz"],
                file_name=path.name,
            ),
            actor=None,
            now=timezone.now(),
            dry_run=options["dry_run"],
        )

        if report.ignored_columns:
            self.stdout.write(f"Ignored columns: {', '.join(report.ignored_columns)}.")
        for note in report.notes:
            self.stdout.write(note)
        for error in report.errors:
            self.stderr.write(str(error))
        if report.errors_not_listed:
            self.stderr.write(f"... and {errors_text(report.errors_not_listed)} more.")
        timings = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in report.timings.items())
        if timings:
            self.stdout.write(f"Timings: {timings}.")
        summary = report.summary()
        self.stdout.write(self.style.SUCCESS(summary) if report.ok else self.style.ERROR(summary))
        if not report.ok:
            raise CommandError(f"{errors_text(report.error_count)}: nothing was imported.")
