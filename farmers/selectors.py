"""Reads about farmers: reputation (the score, its breakdown and its history).

What a farmer sees of pools (browsing, claims, submissions, earnings) is pools.farmer_selectors;
farmers sit below pools and read none of its tables."""

from __future__ import annotations

from decimal import Decimal

from .models import FarmerProfile, ReputationSnapshot
from .reputation import NEWCOMER_REPUTATION


def reputation_of(user) -> Decimal:
    """A farmer's reputation; newcomers (no profile yet) have the prior's score."""
    profile = FarmerProfile.objects.filter(user_id=user.pk).only("reputation").first()
    return profile.reputation if profile else NEWCOMER_REPUTATION


def reputation_profile(user) -> FarmerProfile:
    """The farmer's profile, or an unsaved newcomer's profile (score and empty breakdown)."""
    profile = FarmerProfile.objects.filter(user_id=user.pk).first()
    return profile or FarmerProfile(user_id=user.pk, reputation=NEWCOMER_REPUTATION, breakdown={})


def reputation_history(user, *, limit: int = 10) -> list[ReputationSnapshot]:
    return list(ReputationSnapshot.objects.filter(user_id=user.pk)[:limit])
