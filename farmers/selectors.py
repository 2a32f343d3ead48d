"""Reads about farmers: reputation."""

from __future__ import annotations

from decimal import Decimal

from .models import FarmerProfile
from .reputation import NEWCOMER_REPUTATION


def reputation_of(user) -> Decimal:
    """A farmer's reputation; newcomers (no profile yet) have the prior's score."""
    profile = FarmerProfile.objects.filter(user_id=user.pk).only("reputation").first()
    return profile.reputation if profile else NEWCOMER_REPUTATION
