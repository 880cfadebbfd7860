"""Import orders from a generic CSV file or from the Olist data set folder."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backlog.services.imports import (
    GenericOptions,
    ImportReport,
    OlistOptions,
    import_generic,
    import_olist,
)
from backlog.services.imports.generic import DEFAULT_SOURCE
from backlog.services.imports.olist import DEFAULT_SOURCE_TZ, parse_as_of
from backlog.services.imports.reading import DELIMITER_CHOICES, ENCODING_CHOICES
from backlog.services.imports.report import errors_text


class Command(BaseCommand):
    help = (
        "Import orders idempotently: a generic CSV file (--format generic) or the folder of "
        "the Olist data set (--format olist). Re-importing the same input changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path",
            type=Path,
            help="The CSV file (generic) or the folder of the Olist CSV files (olist).",
        )
        parser.add_argument(
            "--format", choices=("generic", "olist"), required=True, help="Input format."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count, and write nothing."
        )

        olist = parser.add_argument_group("Olist")
        olist.add_argument(
            "--as-of",
            help=(
                "Import the data as it stood at this ISO 8601 time; a time without an offset is "
                "read in --source-tz. Default: the latest recorded event (purchase, approval, "
                "hand-over or delivery) in the orders file."
            ),
        )
        olist.add_argument(
            "--shift-to-now",
            action="store_true",
            help="Move every stored time forward by (now - as-of time), so ages look live.",
        )
        olist.add_argument(
            "--catalog",
            type=Path,
            help="Folder with olist_products_dataset.csv. Default: the catalog folder beside PATH (PATH/../catalog).",
        )
        olist.add_argument(
            "--source-tz",
            default=DEFAULT_SOURCE_TZ,
            help=f"Time zone of the Olist timestamps (default {DEFAULT_SOURCE_TZ}).",
        )

        generic = parser.add_argument_group("generic CSV")
        generic.add_argument(
            "--source",
            default=DEFAULT_SOURCE,
            help=f"Source name of the entries (default {DEFAULT_SOURCE}).",
        )
        generic.add_argument(
            "--channel", default="", help="Channel code for rows without a channel."
        )
        generic.add_argument(
            "--encoding",
            choices=tuple(ENCODING_CHOICES),
            default="auto",
            help="File encoding (default auto).",
        )
        generic.add_argument(
            "--delimiter",
            choices=tuple(DELIMITER_CHOICES),
            default="auto",
            help="Field delimiter (default auto).",
        )
        generic.add_argument(
            "--date-format",
            default="",
            help=(
                "strptime format of every date cell, such as %%d.%%m.%%Y %%H:%%M. Default: ISO 8601. "
                "Times without an offset are read in the site's time zone."
            ),
        )

    def handle(self, *args, **options) -> None:
        path: Path = options["path"]
        now = timezone.now()
        if options["format"] == "olist":
            report = self._import_olist(path, options, now=now)
        else:
            report = self._import_generic(path, options, now=now)
        self._print(report)
        if not report.ok:
            raise CommandError(f"{errors_text(report.error_count)}: nothing was imported.")

    def _import_olist(self, path: Path, options: dict, *, now) -> ImportReport:
        if not path.is_dir():
            raise CommandError(
                f"{path} is not a folder; --format olist reads the folder of the Olist CSV files."
            )
        as_of = None
        if options["as_of"]:
            try:
                as_of = parse_as_of(options["as_of"], source_tz=options["source_tz"])
            except ValueError as exc:
                raise CommandError(
                    f"Invalid --as-of {options['as_of']!r}: expected ISO 8601 ({exc})."
                ) from exc
        olist_options = OlistOptions(
            as_of=as_of,
            shift_to_now=options["shift_to_now"],
            catalog=options["catalog"],
            source_tz=options["source_tz"],
        )
        return import_olist(
            path, options=olist_options, actor=None, now=now, dry_run=options["dry_run"]
        )

    def _import_generic(self, path: Path, options: dict, *, now) -> ImportReport:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        generic_options = GenericOptions(
            source=options["source"],
            channel=options["channel"],
            encoding=options["encoding"],
            delimiter=options["delimiter"],
            date_format=options["date_format"],
            file_name=path.name,
        )
        return import_generic(
            path.read_bytes(),
            options=generic_options,
            actor=None,
            now=now,
            dry_run=options["dry_run"],
        )

    def _print(self, report: ImportReport) -> None:
        if report.encoding or report.delimiter:
            origin = "detected" if report.delimiter_detected else "chosen"
            self.stdout.write(
                f"Encoding {report.encoding_label or '-'}, delimiter {report.delimiter!r} ({origin})."
            )
        if report.delimiter_warning:
            self.stdout.write(self.style.WARNING(report.delimiter_warning))
        if report.ignored_columns:
            self.stdout.write(f"Ignored columns: {', '.join(report.ignored_columns)}.")
        for note in report.notes:
            self.stdout.write(note)
        if report.dry_run and report.preview:
            self.stdout.write(
                "First orders as read (row, reference, channel, stage, status, lines):"
            )
            for row in report.preview:
                cells = (
                    row["rows"],
                    row["order_ref"],
                    row["channel"],
                    row["stage"],
                    row["status"],
                    row["lines"],
                )
                self.stdout.write("  " + " | ".join(cell or "-" for cell in cells))
        for error in report.errors:
            self.stderr.write(str(error))
        if report.errors_not_listed:
            not_listed = report.errors_not_listed
            noun = "error" if not_listed == 1 else "errors"
            self.stderr.write(f"... and {not_listed} more {noun}.")
        timings = ", ".join(f"{step} {seconds:.2f} s" for step, seconds in report.timings.items())
        if timings:
            self.stdout.write(f"Timings: {timings}.")
        summary = report.summary()
        self.stdout.write(self.style.SUCCESS(summary) if report.ok else self.style.ERROR(summary))
