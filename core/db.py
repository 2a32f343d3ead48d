"""Set-based SQL helpers for the batch paths.

`bulk_update_values` writes many rows' fields in one `UPDATE ... FROM (rows of a JSON array)`
(`with_rows`); `bulk_insert_values` inserts many rows in one `INSERT ... SELECT` from the same
record set, skipping conflicts on a unique key. The rows travel as ONE JSON document
(`rows_json`): the driver quotes a single string (in C) instead of escaping every element of
one array per column, and PostgreSQL parses it into typed columns. Django's `bulk_update`
builds one CASE expression per field with a WHEN per row (quadratic in the batch size for
PostgreSQL) and thousands of parameters; `bulk_create` builds and quotes a placeholder per
value; a join on a record set is linear and takes one parameter.

Values are exact in JSON: integers stay integers (PostgreSQL reads JSON numbers as `numeric`),
decimals travel as strings, timestamps as ISO 8601 with their microseconds and offset, and the
content of a JSON column as its JSON text, encoded as the JSONField would encode it.

`planner_settings`: PostgreSQL planner settings for the statements of one block only (the
GIN lookup of near-duplicates, whose selectivity the planner cannot estimate).

`atomic_with_retry` / `run_with_retry`: the bounded retry of a transaction that PostgreSQL
aborts as a deadlock or serialization victim (the lock order that makes that rare is written in
ledger/locks.py); past the attempts, `TransactionBusy` (503 with `Retry-After`).
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from decimal import Decimal
from typing import TypeVar

from django.core.serializers.json import DjangoJSONEncoder
from django.db import DatabaseError, OperationalError, connection, models, transaction

logger = logging.getLogger(__name__)


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


@models.Field.register_lookup
class AnyId(models.Lookup):
    """`filter(user_id__any_id=ids)`: `user_id = ANY(%s)` with the ids as ONE array parameter.
    The same plan as `user_id__in=ids` (PostgreSQL reads an IN list as `= ANY(ARRAY[...])`),
    without a placeholder per id for Django to build and psycopg to quote (hundreds per batch).
    Unlike `__in`, no ids still runs the query (it finds nothing): callers skip it."""

    lookup_name = "any_id"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", [*lhs_params, sorted({int(pk) for pk in self.rhs})]


models.ForeignObject.register_lookup(AnyId)  # foreign keys read only their own class's lookups


def _encoders(targets: Sequence[models.Field]) -> dict[str, type[json.JSONEncoder]]:
    return {
        field.attname: field.encoder or DjangoJSONEncoder
        for field in targets
        if field.get_internal_type() == "JSONField"
    }


def _db_value(field: models.Field, value, encoders: dict[str, type[json.JSONEncoder]]):
    """`value` as `rows_json` should carry it for `field`."""
    if value is not None and field.attname in encoders:  # as the JSONField would store it
        return json.dumps(value, cls=encoders[field.attname])
    if value is not None and not _ready(value):
        return field.get_db_prep_save(value, connection)
    return value


def _record_type(field: models.Field) -> str:
    """The record set's type for `field`'s column: its own, except text for a character column.
    An explicit cast to varchar(n) would cut a value that is too long; the UPDATE's or INSERT's
    own assignment refuses it, as `save()` and `bulk_create` do."""
    return "text" if field.get_internal_type() == "CharField" else field.db_type(connection)


def bulk_update_values(model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]) -> None:
    if not objs:
        return
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    pk = meta.pk
    encoders = _encoders(targets)
    rows = []
    for obj in objs:
        row = [obj.pk]
        for field in targets:
            row.append(_db_value(field, getattr(obj, field.attname), encoders))
        rows.append(row)
    columns = [("pk_", pk.db_type(connection))] + [
        (f"c{index}", _record_type(field)) for index, field in enumerate(targets)
    ]
    assignments = ", ".join(f"{quote(field.column)} = v.c{index}" for index, field in enumerate(targets))
    sql = with_rows(
        f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {{rows}} AS v "  # noqa: S608 - model meta
        f"WHERE t.{quote(pk.column)} = v.pk_",
        columns,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows_json(rows)])


def bulk_insert_values(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence], *, unique: Sequence[str]
) -> int:
    """Insert `rows` (values of `fields`, in that order: no model instances, no defaults filled
    in, so name every NOT NULL column) in one `INSERT ... SELECT` from a JSON record set; a row
    that conflicts on the `unique` fields is skipped (`ON CONFLICT (...) DO NOTHING`). Returns
    how many were inserted."""
    meta = model._meta
    quote = connection.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    encoders = _encoders(targets)
    values = [[_db_value(field, value, encoders) for field, value in zip(targets, row, strict=True)] for row in rows]
    if not values:
        return 0
    names = ", ".join(quote(field.column) for field in targets)
    conflict = ", ".join(quote(meta.get_field(name).column) for name in unique)
    sql = with_rows(
        f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT * FROM {{rows}} AS v "  # noqa: S608 - model meta
        f"ON CONFLICT ({conflict}) DO NOTHING",
        [(f"c{index}", _record_type(field)) for index, field in enumerate(targets)],
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [rows_json(values)])
        return cursor.rowcount


# ---- The retry of a deadlock victim --------------------------------------------------------

# PostgreSQL aborts one side of a deadlock or a serialization conflict: the whole transaction
# can simply run again (its postings are keyed, so nothing is paid twice).
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock_detected, serialization_failure
ATTEMPTS = 4
BACKOFF_SECONDS = 0.05
RETRY_AFTER_SECONDS = 2
T = TypeVar("T")


class TransactionBusy(Exception):
    """Every attempt lost a deadlock or a serialization conflict: nothing was written, and the
    same request may simply be sent again. Not an `ApplicationError` (nothing was refused), so
    no page or API view turns it into a form error: `core.middleware.ServiceErrorPagesMiddleware`
    answers every request 503 with `Retry-After`."""

    message = "The service is busy right now and nothing was changed; please try again in a moment."

    def __init__(self):
        super().__init__(self.message)


def is_transient(error: BaseException) -> bool:
    """A deadlock victim or a serialization failure (worth running again, whole)."""
    return isinstance(error, OperationalError) and getattr(error.__cause__, "sqlstate", None) in TRANSIENT_SQLSTATES


def run_with_retry(unit: Callable[[], T], *, attempts: int = ATTEMPTS, backoff: float = BACKOFF_SECONDS) -> T:
    """Run `unit()` in its own durable transaction, and again, whole, when PostgreSQL aborts
    it for a deadlock or a serialization failure; `TransactionBusy` once `attempts` are
    spent. Call it outside any transaction: a retry inside an outer transaction cannot
    recover (the outer one is aborted), so `atomic_with_retry` only retries when outermost."""
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic(durable=True):
                return unit()
        except OperationalError as error:
            if not is_transient(error):
                raise
            if attempt == attempts:
                logger.warning("transaction lost %d times (%s); answering busy", attempts, error.__cause__.sqlstate)
                raise TransactionBusy() from error
            logger.info("transaction lost a deadlock (attempt %d of %d); running it again", attempt, attempts)
        time.sleep(backoff * attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def atomic_with_retry(function: Callable[..., T]) -> Callable[..., T]:
    """`@transaction.atomic` for a write use case that may be the outermost transaction (called
    by a view, a task or a command): outermost, it runs in a durable transaction retried
    whole on a deadlock (`run_with_retry`); called inside another transaction, it is a plain
    savepoint and the outermost caller's retry covers it."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                return function(*args, **kwargs)
        return run_with_retry(lambda: function(*args, **kwargs))

    return wrapper


@contextmanager
def planner_settings(**values: str) -> Iterator[None]:
    """Run the block's statements with these PostgreSQL settings (`enable_seqscan="off"`, ...),
    then put back what they were: two statements, one before and one after. The settings are
    `SET LOCAL` (`set_config(..., true)`), so they never outlive the transaction (one is opened
    when there is none), and the savepoint or transaction a failed statement rolls back takes
    them with it. For one statement whose plan the statistics cannot choose; behind a
    transaction-mode pooler it stays on one connection."""
    if not connection.in_atomic_block:
        with transaction.atomic(), planner_settings(**values):
            yield
        return
    names = list(values)
    with connection.cursor() as cursor:
        # The CTE is read before the outer list sets anything: the values as they were.
        cursor.execute(
            "WITH previous AS MATERIALIZED (SELECT "  # noqa: S608 (placeholders only: the values are parameters)
            + ", ".join(f"current_setting(%s) AS v{index}" for index in range(len(names)))
            + ") SELECT "
            + ", ".join(f"v{index}" for index in range(len(names)))
            + ", "
            + ", ".join(["set_config(%s, %s, true)"] * len(names))
            + " FROM previous",
            [*names, *(item for name in names for item in (name, values[name]))],
        )
        previous = cursor.fetchone()[: len(names)]

    def restore() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT " + ", ".join(["set_config(%s, %s, true)"] * len(names)),
                [item for name, value in zip(names, previous, strict=True) for item in (name, value)],
            )

    try:
        yield
    except BaseException:
        # A failed statement left the transaction aborted: its rollback undoes the settings.
        with suppress(DatabaseError):
            restore()
        raise
    restore()
