"""Row locks of the farmers app, in one place (the project's lock order is written once, in
`ledger/locks.py`). A farmer's profile row serializes concurrent reputation recomputes."""

from __future__ import annotations

from .models import FarmerProfile


def farmer_profile_lock(farmer_id: int, *, defaults: dict) -> FarmerProfile:
    """The farmer's profile, created with `defaults` when missing, locked."""
    profile, _ = FarmerProfile.objects.select_for_update().get_or_create(user_id=farmer_id, defaults=defaults)
    return profile
