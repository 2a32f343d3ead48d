"""API token authentication (`Authorization: Token <key>`): DRF's, with a leaner lookup.

DRF's TokenAuthentication builds `Token.objects.select_related("user").get(key=key)` through
the ORM on every request, and compiling that join costs several times the query itself. This
subclass runs the same join as one statement written once per process and builds the user and
the token from the row. Everything else is DRF's: the header parsing, the messages ("Invalid
token.", "User inactive or deleted."), `request.auth` being the Token.

Nothing is cached between requests: revoking or rotating a token deletes its row
(accounts/services.py), and the next request with the old key is refused at once.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions


@cache
def _lookup() -> tuple[str, list[str], list[str], list[tuple[int, object, list]]]:
    """(statement, user attnames, token attnames, [(column index, field, converters)]), built
    once from the models."""
    user_model = get_user_model()
    token_model = authentication.TokenAuthentication().get_model()
    quote = connection.ops.quote_name
    user_fields = list(user_model._meta.concrete_fields)
    token_fields = list(token_model._meta.concrete_fields)
    columns = [f"u.{quote(field.column)}" for field in user_fields] + [
        f"t.{quote(field.column)}" for field in token_fields
    ]
    user_link = token_model._meta.get_field("user")
    statement = (
        f"SELECT {', '.join(columns)} FROM {quote(token_model._meta.db_table)} t "  # noqa: S608 - identifiers from model meta
        f"JOIN {quote(user_model._meta.db_table)} u "
        f"ON u.{quote(user_model._meta.pk.column)} = t.{quote(user_link.column)} "
        f"WHERE t.{quote(token_model._meta.pk.column)} = %s"
    )
    # The conversions the ORM would apply to each column (none with PostgreSQL's plain types).
    converters = []
    for index, field in enumerate(user_fields + token_fields):
        column = field.get_col(field.model._meta.db_table)
        found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if found:
            converters.append((index, column, found))
    return statement, [field.attname for field in user_fields], [field.attname for field in token_fields], converters


def _fetch(statement: str, key: str):
    with connection.cursor() as cursor:
        cursor.execute(statement, [key])
        return cursor.fetchone()


def _fetch_checking_the_connection(statement: str, key: str):
    """The lookup, doubling as the connection's health check.

    With CONN_HEALTH_CHECKS, Django sends `SELECT 1` before the first query of every request
    that reuses a persistent connection, and replaces the connection if that fails. The token
    lookup is usually that first query, and it is a read: run it instead of the `SELECT 1`, and
    if the connection turns out to be dead, replace it and run the lookup again. Same outcome,
    one round trip fewer per API request. Inside a transaction (or when Django has nothing to
    check) the lookup runs as any other query.
    """
    if not (
        connection.health_check_enabled
        and not connection.health_check_done
        and connection.connection is not None
        and not connection.in_atomic_block
    ):
        return _fetch(statement, key)
    connection.health_check_done = True
    try:
        return _fetch(statement, key)
    except (OperationalError, InterfaceError):
        connection.close()  # dead: the next cursor connects afresh
        return _fetch(statement, key)


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate_credentials(self, key):
        statement, user_names, token_names, converters = _lookup()
        row = _fetch_checking_the_connection(statement, key)
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if converters:
            row = list(row)
            for index, column, functions in converters:
                for convert in functions:
                    row[index] = convert(row[index], column, connection)
        db = connection.alias
        user = get_user_model().from_db(db, user_names, row[: len(user_names)])
        token = self.get_model().from_db(db, token_names, row[len(user_names) :])
        token.user = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return (user, token)
