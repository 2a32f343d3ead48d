"""Row locks of the accounts app, in one place (the project's lock order is written once, in
`ledger/locks.py`: a withdrawal is a work item, taken before any ledger account)."""

from __future__ import annotations

from .models import Withdrawal


def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    """One withdrawal, locked: its own row only (`of=("self",)`). A joined token or user row
    locked FOR UPDATE would queue every withdrawal in that token and block the foreign-key
    checks on the user; they are read, not locked."""
    return Withdrawal.objects.select_for_update(of=("self",)).select_related("token", "user").get(pk=withdrawal_id)
