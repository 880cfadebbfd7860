"""Set-based writes shared by imports and sweeps."""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, models, router

# Keys per `IN (...)` lookup: small enough for any database's bound-parameter limit.
KEY_CHUNK_SIZE = 500
# Rows per UPDATE ... FROM (VALUES ...) statement: 500 rows of up to 60 values stay under
# the bound-parameter limits of SQLite (32,766) and PostgreSQL (65,535).
UPDATE_BATCH_SIZE = 500


def chunks(values: Sequence, size: int = KEY_CHUNK_SIZE) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def update_in_bulk(
    model: type[models.Model], objects: Sequence[models.Model], field_names: Sequence[str]
) -> None:
    """Write the fields of many rows with one UPDATE ... FROM (VALUES ...) per batch.

    Django's bulk_update builds a CASE expression per field with a branch per row, and its
    Python-side cost grows with rows times fields: it made re-importing 8,000 changed
    Olist orders several times slower than creating them. Databases other than PostgreSQL
    and SQLite fall back to bulk_update.
    """
    connection = connections[router.db_for_write(model)]
    if connection.vendor not in ("postgresql", "sqlite"):
        model.objects.bulk_update(objects, field_names, batch_size=100)
        return

    fields = [model._meta.get_field(name) for name in field_names]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    primary_key = quote(model._meta.pk.column)

    def placeholder(field: models.Field) -> str:
        # PostgreSQL infers no type for a VALUES column that is NULL in every row. SQLite
        # needs no cast, and its CAST to a date type would turn text into a number.
        return (
            f"CAST(%s AS {field.cast_db_type(connection)})"
            if connection.vendor == "postgresql"
            else "%s"
        )

    row_sql = "(" + ", ".join(["%s", *(placeholder(field) for field in fields)]) + ")"
    assignments = ", ".join(
        f"{quote(field.column)} = v.column{position}"
        for position, field in enumerate(fields, start=2)
    )
    with connection.cursor() as cursor:
        for batch in chunks(objects, UPDATE_BATCH_SIZE):
            params: list[Any] = []
            for obj in batch:
                params.append(obj.pk)
                params.extend(
                    field.get_db_prep_save(getattr(obj, field.attname), connection)
                    for field in fields
                )
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {', '.join([row_sql] * len(batch))}) AS v "
                f"WHERE {table}.{primary_key} = v.column1",
                params,
            )
