"""Set-based SQL helpers for the batch paths.

`bulk_update_values` writes many rows' fields in one `UPDATE ... FROM unnest(...)` on
PostgreSQL, passing each column as one array parameter. Django's `bulk_update` builds one CASE
expression per field with a WHEN per row (quadratic in the batch size for PostgreSQL) and
thousands of parameters for the driver to parse; an unnest join is linear and takes one
parameter per column. Other databases (the SQLite demo) fall back to `bulk_update`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models


def bulk_update_values(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    names = [pk.column] + [field.column for field in columns]
    types = [pk.db_type(connection)] + [field.db_type(connection) for field in columns]
    arrays = [[obj.pk for obj in objs]]
    for field in columns:
        if field.get_internal_type() == "JSONField":  # arrays of jsonb travel as text
            values = [json.dumps(getattr(obj, field.attname), cls=field.encoder or DjangoJSONEncoder) for obj in objs]
        else:
            values = [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in objs]
        arrays.append(values)
    casts = [f"%s::{'text' if t == 'jsonb' else t}[]" for t in types]
    assignments = ", ".join(
        f"{quote(field.column)} = v.{quote(field.column)}" + ("::jsonb" if field.db_type(connection) == "jsonb" else "")
        for field in columns
    )
    sql = (
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} "  # noqa: S608 - identifiers from model meta
        f"FROM unnest({', '.join(casts)}) AS v({', '.join(quote(n) for n in names)}) "
        f"WHERE t.{quote(pk.column)} = v.{quote(pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, arrays)
