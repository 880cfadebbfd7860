"""Import the Olist order reviews as inbound contacts of the orders' entries."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from backlog.services.imports.olist import DEFAULT_SOURCE_TZ
from backlog.services.imports.report import errors_text
from backlog.services.imports.reviews import REVIEWS_FILE, import_olist_reviews


class Command(BaseCommand):
    help = (
        f"Import {REVIEWS_FILE} of an Olist folder: each review with a comment becomes a "
        "contact of channel review on its order's entry. Import the orders first "
        "(import_orders FOLDER --format olist). Re-importing changes nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path, help=f"The folder that contains {REVIEWS_FILE}.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count, and write nothing."
        )
        parser.add_argument(
            "--source-tz",
            default=DEFAULT_SOURCE_TZ,
            help=f"Time zone of the review dates (default {DEFAULT_SOURCE_TZ}).",
        )

    def handle(self, *args, **options) -> None:
        folder: Path = options["folder"]
        if not folder.is_dir():
            raise CommandError(f"{folder} is not a folder.")
        report = import_olist_reviews(
            folder, now=timezone.now(), dry_run=options["dry_run"], source_tz=options["source_tz"]
        )
        for error in report.errors:
            self.stderr.write(str(error))
        if report.errors_not_listed:
            self.stderr.write(f"... and {errors_text(report.errors_not_listed)} more.")
        summary = report.summary()
        if not report.ok:
            raise CommandError(summary)
        self.stdout.write(self.style.SUCCESS(summary))
