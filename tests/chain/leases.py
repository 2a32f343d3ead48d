"""Another process's payout run, in effect, for the payout tests: the run lease row
(chain.locks.payout_run_lease) written and committed on a connection of its own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

# The holder of a lease taken by `lease_held_elsewhere`.
ELSEWHERE = "another process's run"


@contextmanager
def lease_held_elsewhere(name: str, *, seconds: int = 3600) -> Iterator[psycopg.Connection]:
    """The payout run lease `name` held by another run for `seconds` (committed, as that run's
    own short transaction would); the row is deleted at the end (the other run released it)."""
    from tests.integration.conftest import _database_url

    with psycopg.connect(_database_url(), autocommit=True) as other:
        other.execute(
            "INSERT INTO chain_payoutrunlease (name, holder, acquired_at, expires_at) "
            "VALUES (%s, %s, now(), now() + make_interval(secs => %s)) "
            "ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, acquired_at = EXCLUDED.acquired_at, "
            "expires_at = EXCLUDED.expires_at",
            [name, ELSEWHERE, seconds],
        )
        try:
            yield other
        finally:
            other.execute("DELETE FROM chain_payoutrunlease WHERE name = %s", [name])
