"""Row locks of the accounts app, in one place (the project's lock order is written once, in
`ledger/locks.py`: a withdrawal is a work item, taken before any ledger account)."""

from __future__ import annotations

from .models import Withdrawal


def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    """One withdrawal, locked: its own row only (`of=("self",)`). A joined token or user row
    locked FOR UPDATE would queue every withdrawal in that token and block the foreign-key
    checks on the user; they are read, not locked."""
    return Withdrawal.objects.select_for_update(of=("self",)).select_related("token", "user").get(pk=withdrawal_id)


# Namespace of the per-user advisory lock below (any constant that no other advisory lock uses).
WITHDRAWAL_REQUEST_LOCK = 0x57444C  # "WDL"


def withdrawal_requests_lock(user_id: int) -> None:
    """Serialise one user's withdrawal requests until the end of the transaction (a
    transaction-level advisory lock, taken first, before the wallet and the ledger accounts),
    so two concurrent requests cannot both pass the daily limit."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [WITHDRAWAL_REQUEST_LOCK, user_id])
