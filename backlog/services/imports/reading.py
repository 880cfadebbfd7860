"""Decode a CSV file, find its delimiter and parse its cells.

Every choice is made once for the whole file (encoding, delimiter, date format), never
guessed row by row, so one file cannot mix two readings of the same text.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from .report import RowError

ENCODING_CHOICES = {
    "auto": "Detect (UTF-8 with or without BOM, else Windows-1252)",
    "utf-8": "UTF-8",
    "cp1252": "Windows-1252",
}
DELIMITER_CHOICES = {"auto": "Detect", ",": "Comma (,)", ";": "Semicolon (;)"}
DETECTED_DELIMITERS = (",", ";")

# Spreadsheets run a cell that starts with one of these as a formula. The export prefixes
# such cells with an apostrophe, and the import removes exactly one.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

ISO_EXAMPLE = "2026-05-12 or 2026-05-12T14:30 or 2026-05-12T14:30+02:00"


class FileProblem(Exception):
    """Raised when the file as a whole cannot be read."""

    def __init__(self, error: RowError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class DecodedText:
    text: str
    # Codec name: "utf-8", "utf-8-sig" (UTF-8 with a byte order mark) or "cp1252".
    encoding: str


@dataclass(frozen=True)
class DelimiterChoice:
    delimiter: str
    detected: bool
    warning: str = ""


def _is_guarded_formula(text: str) -> bool:
    # Apostrophes before the formula character count too: a stored "'=x" is exported as
    # "''=x" and read back as "'=x", so every value survives any number of round trips.
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_PREFIXES


def neutralise_formula(text: str) -> str:
    """Prefix an apostrophe to a cell a spreadsheet would run as a formula.

    Cells that start with apostrophes followed by a formula character get one more, so
    that `strip_formula_guard` returns them unchanged.
    """
    return "'" + text if _is_guarded_formula(text) else text


def strip_formula_guard(text: str) -> str:
    """Remove the one apostrophe that `neutralise_formula` put before a formula character."""
    if text.startswith("'") and _is_guarded_formula(text[1:]):
        return text[1:]
    return text


def decode(data: bytes, choice: str) -> DecodedText:
    """Decode the file's bytes with the chosen encoding, or detect it for "auto".

    Detection tries strict UTF-8 first because Windows-1252 decodes almost any byte
    sequence, while text that is valid UTF-8 is UTF-8 in practice. A choice that would
    garble the text raises FileProblem instead of storing mojibake.
    """
    has_bom = data.startswith(codecs.BOM_UTF8)
    if choice == "auto":
        if has_bom:
            return _decode_utf8(data)
        try:
            return DecodedText(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            return _decode_cp1252(data)
    if choice == "utf-8":
        return _decode_utf8(data)
    if choice == "cp1252":
        if has_bom:
            raise FileProblem(
                RowError(
                    row=1,
                    column="",
                    value="",
                    message=(
                        "The file starts with a UTF-8 byte order mark, so it is UTF-8 and not "
                        "Windows-1252. Choose UTF-8 or automatic detection."
                    ),
                )
            )
        _reject_utf8_read_as_cp1252(data)
        return _decode_cp1252(data)
    raise ValueError(
        f"Unknown encoding choice {choice!r}. Expected one of {', '.join(ENCODING_CHOICES)}."
    )


def _row_of_offset(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _decode_utf8(data: bytes) -> DecodedText:
    encoding = "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        return DecodedText(data.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        # The offset is relative to the decoded buffer, which excludes a BOM.
        offset = exc.start + (len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0)
        raise FileProblem(
            RowError(
                row=_row_of_offset(data, offset),
                column="",
                value=f"byte 0x{data[offset : offset + 1].hex().upper()}",
                message=(
                    "The file is not valid UTF-8 (encoding error): this row has the first byte "
                    "that cannot be decoded. It may be Windows-1252, which Excel writes for plain "
                    "CSV: choose Windows-1252 or automatic detection, or save the file as CSV UTF-8."
                ),
            )
        ) from exc


def _decode_cp1252(data: bytes) -> DecodedText:
    try:
        return DecodedText(data.decode("cp1252"), "cp1252")
    except UnicodeDecodeError as exc:
        raise FileProblem(
            RowError(
                row=_row_of_offset(data, exc.start),
                column="",
                value=f"byte 0x{data[exc.start : exc.start + 1].hex().upper()}",
                message=(
                    "The file is neither valid UTF-8 nor valid Windows-1252 (encoding error): "
                    "this byte has no Windows-1252 character. Save the file as CSV UTF-8."
                ),
            )
        ) from exc


def _reject_utf8_read_as_cp1252(data: bytes) -> None:
    """Raise when the bytes are UTF-8 with non-ASCII text, which Windows-1252 would garble."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return
    first_non_ascii = next((i for i, byte in enumerate(data) if byte > 0x7F), None)
    if first_non_ascii is None:
        return
    line_start = data.rfind(b"\n", 0, first_non_ascii) + 1
    line_end = data.find(b"\n", first_non_ascii)
    line = data[line_start : line_end if line_end != -1 else len(data)].decode("utf-8").strip()
    raise FileProblem(
        RowError(
            row=_row_of_offset(data, first_non_ascii),
            column="",
            value=line[:80],
            message=(
                "The file is UTF-8, and reading it as Windows-1252 would garble its accented "
                "characters (encoding mismatch). Choose UTF-8 or automatic detection."
            ),
        )
    )


def choose_delimiter(text: str, choice: str, *, known_columns: Iterable[str]) -> DelimiterChoice:
    """Return the chosen delimiter, or detect it from the header row for "auto".

    Detection splits the header with each candidate and keeps the one that yields the most
    known column names, then the most columns. It warns when the other candidate also
    splits the header into several columns, so the preview can ask the user to check.
    """
    if choice != "auto":
        if choice not in DETECTED_DELIMITERS:
            raise ValueError(f"Unknown delimiter {choice!r}. Expected a comma or a semicolon.")
        return DelimiterChoice(delimiter=choice, detected=False)

    header = next((line for line in text.splitlines() if line.strip()), "")
    known = set(known_columns)
    scores = {}
    for candidate in DETECTED_DELIMITERS:
        names = [
            normalise_header(name) for name in next(csv.reader([header], delimiter=candidate), [])
        ]
        scores[candidate] = (sum(name in known for name in names), len(names))

    best, runner_up = sorted(
        DETECTED_DELIMITERS, key=lambda candidate: scores[candidate], reverse=True
    )
    warning = ""
    if scores[runner_up][1] > 1 and scores[runner_up][0] >= scores[best][0] - 1:
        warning = (
            f"Both the comma and the semicolon split the header into several columns, and "
            f"{delimiter_name(best)} was chosen. Check the column mapping."
        )
    return DelimiterChoice(delimiter=best, detected=True, warning=warning)


def delimiter_name(delimiter: str) -> str:
    return {",": "the comma", ";": "the semicolon"}.get(delimiter, repr(delimiter))


def normalise_header(name: str) -> str:
    # A second byte order mark, from a file saved twice, would otherwise hide the first column.
    return name.replace("\ufeff", "").strip().lower()


def read_records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (row number, cells) for each record, where the header is row 1.

    The reader is strict, so a quoted cell that is never closed fails instead of silently
    swallowing the rows after it.
    """
    nul_at = text.find("\x00")
    if nul_at != -1:
        raise FileProblem(
            RowError(
                row=text.count("\n", 0, nul_at) + 1,
                column="",
                value="",
                message="The file contains a NUL character, which text files do not have. Is it a CSV file?",
            )
        )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            yield number, record
    except csv.Error as exc:
        raise FileProblem(
            RowError(
                row=number + 1,
                column="",
                value="",
                message=f"The CSV is malformed ({exc}). Check the quotes from this row on.",
            )
        ) from exc


class DateReader:
    """Parses date cells with one format for the whole file: ISO 8601, or a declared format.

    Times without an offset are read in `zone`. Parsed values are returned in UTC.
    """

    def __init__(self, *, date_format: str | None, zone: ZoneInfo) -> None:
        self.date_format = date_format or None
        self.zone = zone

    @property
    def expected(self) -> str:
        if self.date_format:
            return f"the declared format {self.date_format}"
        return f"ISO 8601 such as {ISO_EXAMPLE}"

    def parse(self, text: str) -> datetime:
        """Return the cell's time in UTC, or raise ValueError with a message for a bad cell."""
        try:
            if self.date_format:
                value = datetime.strptime(text, self.date_format)
            else:
                value = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"Invalid date: expected {self.expected}.") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("Invalid date: out of the supported range.") from None
