"""Set-based SQL helpers for the batch paths.

`bulk_update_values` writes many rows' fields in one `UPDATE ... FROM (rows of a JSON array)`
(`with_rows`). The rows travel as ONE JSON document (`rows_json`): the driver quotes a single
string (in C) instead of escaping every element of one array per column, and PostgreSQL
parses it into typed columns. Django's `bulk_update` builds one CASE expression per field with
a WHEN per row (quadratic in the batch size for PostgreSQL) and thousands of parameters; a
join on a record set is linear and takes one parameter.

Values are exact in JSON: integers stay integers (PostgreSQL reads JSON numbers as `numeric`),
decimals travel as strings, timestamps as ISO 8601 with their microseconds and offset, and the
content of a JSON column as its JSON text, encoded as the JSONField would encode it.
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
    """JSON for what json cannot encode itself: decimals as strings, times in ISO 8601 with
    microseconds and offset, UUIDs as strings."""
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} cannot be written by rows_json")


def rows_json(rows: Iterable[Sequence]) -> str:
    """Rows (sequences of column values) as one JSON array of arrays."""
    return json.dumps(rows if isinstance(rows, list) else list(rows), default=_scalar, separators=(",", ":"))


# Values written as they are (the database parses them exactly): anything else goes through
# the field's get_db_prep_save first.
_READY = {str, int, bool, Decimal, uuid.UUID}


def _ready(value) -> bool:
    kind = type(value)
    return kind in _READY or (kind is datetime.datetime and value.tzinfo is not None)


def with_rows(statement: str, columns: Sequence[tuple[str, str]]) -> str:
    """`statement` with `{rows}` replaced by a record set of these (name, SQL type) columns,
    read from one parameter: a JSON array of arrays (`rows_json`). Names and types come from
    code, never from input."""
    return statement.replace("{rows}", recordset_sql(columns))


def recordset_sql(columns: Sequence[tuple[str, str]]) -> str:
    """`(SELECT ... FROM jsonb_array_elements(%s::jsonb))`: see `with_rows`."""
    picks = ", ".join(
        # A jsonb column travels as its JSON text (a string), encoded as the field would.
        f"(r->>{index})::{sql_type} AS {name}"
        for index, (name, sql_type) in enumerate(columns)
    )
    return f"(SELECT {picks} FROM jsonb_array_elements(%s::jsonb) AS r)"  # noqa: S608 - names from code


def bulk_update_values(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    if not objs:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    pk = meta.pk
    encoders = {
        field.attname: field.encoder or DjangoJSONEncoder
        for field in targets
        if field.get_internal_type() == "JSONField"
    }
    rows = []
    for obj in objs:
        row = [obj.pk]
        for field in targets:
            value = getattr(obj, field.attname)
            if value is not None and field.attname in encoders:  # as the JSONField would store it
                value = json.dumps(value, cls=encoders[field.attname])
            elif value is not None and not _ready(value):
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
