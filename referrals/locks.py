"""Row locks of the referrals app, in one place (the project's lock order is written once, in
`ledger/locks.py`: an ambassador row is a work item, taken before any ledger account).

The commission-tier rows are always locked all together in tier order, by the tier editor and
by the economics settings editor (pools), so a tier change and a fee change cannot both pass
against each other's old values.
"""

from __future__ import annotations

from .models import Ambassador, CommissionTier


def ambassador_lock(ambassador_id: int) -> Ambassador:
    """One ambassador, locked."""
    return Ambassador.objects.select_for_update().get(pk=ambassador_id)


def ambassadors_lock_all():
    """Every ambassador, locked in primary-key order (a queryset: iterate it once)."""
    return Ambassador.objects.select_for_update().order_by("pk")


def commission_tiers_lock() -> list[CommissionTier]:
    """Every commission tier, locked in tier order."""
    return list(CommissionTier.objects.select_for_update().order_by("tier"))
