"""Order intake from files: the generic CSV and the Olist data set, through one idempotent writer."""

from .generic import GenericOptions, import_generic
from .olist import OlistOptions, import_olist
from .report import ColumnMapping, ImportReport, RowError
from .rows import EntryRow, LineRow
from .writer import UpsertCounts, entries_upsert, upsert_plan

__all__ = [
    "ColumnMapping",
    "EntryRow",
    "GenericOptions",
    "ImportReport",
    "LineRow",
    "OlistOptions",
    "RowError",
    "UpsertCounts",
    "entries_upsert",
    "import_generic",
    "import_olist",
    "upsert_plan",
]
