"""Set-based SQL helpers for the batch paths.

`bulk_update_values` writes many rows' fields in one `UPDATE ... FROM (VALUES ...)` on
PostgreSQL. Django's `bulk_update` builds one CASE expression per field with a WHEN per row,
which PostgreSQL evaluates row by row (quadratic in the batch size); a VALUES join is linear.
Other databases (the SQLite demo) fall back to `bulk_update`.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection, models


def bulk_update_values(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str], *, batch_size: int = 1000
) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=batch_size)
        return
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    table = connection.ops.quote_name(meta.db_table)
    casts = [f"%s::{pk.db_type(connection)}"] + [f"%s::{field.db_type(connection)}" for field in columns]
    assignments = ", ".join(
        f"{connection.ops.quote_name(field.column)} = v.{connection.ops.quote_name(field.column)}" for field in columns
    )
    value_names = ", ".join(
        [connection.ops.quote_name(pk.column)] + [connection.ops.quote_name(f.column) for f in columns]
    )
    for start in range(0, len(objs), batch_size):
        chunk = objs[start : start + batch_size]
        rows = ", ".join(["(" + ", ".join(casts) + ")"] * len(chunk))
        params = []
        for obj in chunk:
            params.append(obj.pk)
            for field in columns:
                params.append(field.get_db_prep_save(getattr(obj, field.attname), connection))
        sql = (
            f"UPDATE {table} AS t SET {assignments} FROM (VALUES {rows}) AS v({value_names}) "  # noqa: S608
            f"WHERE t.{connection.ops.quote_name(pk.column)} = v.{connection.ops.quote_name(pk.column)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
