"""Set-based SQL helpers for the batch paths.

`bulk_update_values` writes many rows' fields in one `UPDATE ... FROM jsonb_to_recordset(...)`
on PostgreSQL. The rows travel as ONE JSON document (`rows_json`): the driver quotes a single
string (in C) instead of escaping every element of one array per column, and PostgreSQL
parses it into typed columns. Django's `bulk_update` builds one CASE expression per field with
a WHEN per row (quadratic in the batch size for PostgreSQL) and thousands of parameters; a
join on a record set is linear and takes one parameter. Other databases (the SQLite demo) fall
back to `bulk_update`.

Values are exact in JSON: integers stay integers (PostgreSQL reads JSON numbers as `numeric`),
decimals travel as strings, timestamps as ISO 8601 with their microseconds and offset.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models


def _scalar(value):
    """A column value in JSON: decimals as strings, times in ISO 8601 with microseconds."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def rows_json(rows: Iterable[Sequence], encoder: type[json.JSONEncoder] = DjangoJSONEncoder) -> str:
    """Rows (sequences of column values) as one JSON array of arrays. Scalars are converted
    by `_scalar`; what is left (the content of JSON columns) by `encoder`."""
    return json.dumps([[_scalar(value) for value in row] for row in rows], cls=encoder, separators=(",", ":"))


def with_rows(statement: str, columns: Sequence[tuple[str, str]]) -> str:
    """`statement` with `{rows}` replaced by a record set of these (name, SQL type) columns,
    read from one parameter: a JSON array of arrays (`rows_json`). Names and types come from
    code, never from input."""
    return statement.replace("{rows}", recordset_sql(columns))


def recordset_sql(columns: Sequence[tuple[str, str]]) -> str:
    """`(SELECT ... FROM jsonb_array_elements(%s::jsonb))`: see `with_rows`."""
    picks = ", ".join(
        # JSON null in a jsonb column is SQL NULL, as Django stores None.
        (f"nullif(r->{index}, 'null')" if sql_type == "jsonb" else f"(r->>{index})::{sql_type}") + f" AS {name}"
        for index, (name, sql_type) in enumerate(columns)
    )
    return f"(SELECT {picks} FROM jsonb_array_elements(%s::jsonb) AS r)"  # noqa: S608 - names from code


def bulk_update_values(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_update(objs, fields, batch_size=500)
        return
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    pk = meta.pk
    # The content of JSON columns is encoded as the JSONField itself would (its encoder).
    custom = {field.attname: field.encoder for field in targets if getattr(field, "encoder", None)}
    rows = []
    for obj in objs:
        row = [obj.pk]
        for field in targets:
            value = getattr(obj, field.attname)
            if field.attname in custom:
                value = json.loads(json.dumps(value, cls=custom[field.attname]))
            elif value is not None and field.get_internal_type() != "JSONField":
                value = field.get_db_prep_save(value, connection)
            row.append(value)
        rows.append(row)
    columns = [("pk_", pk.db_type(connection))] + [
        (f"c{index}", field.db_type(connection)) for index, field in enumerate(targets)
    ]
    assignments = ", ".join(f"{quote(field.column)} = v.c{index}" for index, field in enumerate(targets))
    sql = with_rows(
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {{rows}} AS v "  # noqa: S608 - model meta
        f"WHERE t.{quote(pk.column)} = v.pk_",
        columns,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows_json(rows)])
