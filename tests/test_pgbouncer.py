"""PgBouncer in transaction mode (issue 20, operations; docs/operations.md "Connection
pooling"). These run only when the suite itself goes through the pooler
(`DATABASE_POOLER=pgbouncer`, `.ci/run`'s second pass, `make test-pgbouncer`): they check that
it really is PgBouncer in transaction mode, that Django is configured for it, and that what
transaction pooling breaks (state kept between transactions) is not relied on."""

from __future__ import annotations

import psycopg
import pytest
from django.conf import settings
from django.db import connection

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(settings.DATABASE_POOLER != "pgbouncer", reason="the suite does not run through PgBouncer"),
]


def _admin(command: str) -> list[tuple]:
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"], port=db["PORT"], user=db["USER"] or "postgres", dbname="pgbouncer", autocommit=True
    ) as admin:
        return admin.execute(command).fetchall()


def test_the_suite_runs_through_pgbouncer_in_transaction_mode():
    config = {row[0]: row[1] for row in _admin("SHOW CONFIG")}
    assert config["pool_mode"] == "transaction"
    assert int(config["listen_port"]) == int(connection.settings_dict["PORT"])
    with connection.cursor() as cursor:
        cursor.execute("SHOW port")
        server_port = int(cursor.fetchone()[0])
    assert server_port != int(connection.settings_dict["PORT"])  # PostgreSQL answered, behind it
    databases = {row[0] for row in _admin("SHOW POOLS")}
    assert connection.settings_dict["NAME"] in databases


def test_django_keeps_nothing_across_transactions():
    assert connection.settings_dict["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert connection.settings_dict["OPTIONS"]["prepare_threshold"] is None
    connection.ensure_connection()
    assert connection.connection.prepare_threshold is None
