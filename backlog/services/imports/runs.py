"""The audit trail of imports: one ImportRun row per real import, failed ones included."""

from datetime import datetime

from backlog.models import ImportRun

from .report import ImportReport


def import_run_record(
    report: ImportReport,
    *,
    actor=None,
    source: str,
    file_format: str,
    file_name: str,
    started_at: datetime,
) -> ImportRun:
    """Store the outcome of an import. A run with errors is stored too, with nothing imported."""
    run = ImportRun.objects.create(
        started_at=started_at,
        actor=actor,
        source=source,
        file_format=file_format,
        file_name=file_name[:255],
        dry_run=report.dry_run,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        errors=report.errors_as_json(),
    )
    report.run_id = run.pk
    return run
