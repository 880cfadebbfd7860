"""The outcome of an import, shared by the command, the upload page and the API."""

from dataclasses import asdict, dataclass, field
from typing import Any

# A broken file can carry an error on every row, so past this many the report keeps a count only.
MAX_REPORTED_ERRORS = 500
# Preview rows shown on the upload page and printed by a dry run.
PREVIEW_ROWS = 10
ENCODING_LABELS = {
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with byte order mark",
    "cp1252": "Windows-1252",
}


def errors_text(count: int) -> str:
    """Return "1 error" or "N errors"."""
    return f"{count} error" if count == 1 else f"{count} errors"


@dataclass(frozen=True)
class RowError:
    """One problem found in the input.

    `row` is the row number a spreadsheet shows (the header is row 1), or None for a
    problem with the whole file. `column` is the column name as the file spells it, or ""
    when the problem concerns the row or the file.
    """

    row: int | None
    column: str
    value: str
    message: str
    file: str = ""

    def __str__(self) -> str:
        place = []
        if self.file:
            place.append(self.file)
        if self.row is not None:
            place.append(f"row {self.row}")
        if self.column:
            place.append(f"column {self.column}")
        where = ", ".join(place) or "file"
        value_text = f" (value {self.value!r})" if self.value else ""
        return f"{where}: {self.message}{value_text}"


@dataclass(frozen=True)
class ColumnMapping:
    """The target of one column of the file: an import field, or None for an ignored column."""

    position: int
    header: str
    field: str | None


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    # Errors past MAX_REPORTED_ERRORS are counted here and not listed.
    errors_not_listed: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    columns: list[ColumnMapping] = field(default_factory=list)
    encoding: str = ""
    delimiter: str = ""
    # True when the delimiter was detected and not chosen by the user.
    delimiter_detected: bool = False
    # Set when detection found more than one plausible delimiter, for the preview to show.
    delimiter_warning: str = ""
    preview: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    dry_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)

    @property
    def error_count(self) -> int:
        return len(self.errors) + self.errors_not_listed

    def add_error(self, error: RowError) -> None:
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(error)
        else:
            self.errors_not_listed += 1

    def errors_as_json(self) -> list[dict[str, Any]]:
        return [asdict(error) for error in self.errors]

    def summary(self) -> str:
        if self.errors:
            return f"{errors_text(self.error_count)} found, so nothing was written."
        counts = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return f"{counts} (dry run: nothing was written)." if self.dry_run else f"{counts}."
