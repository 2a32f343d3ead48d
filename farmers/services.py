"""Writes for farmers: reputation recomputation."""

from __future__ import annotations

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from pools.models import Submission

from .models import FarmerProfile, ReputationSnapshot
from .reputation import MAX_HISTORY, WorkRecord, reputation_compute


def _records(farmer_id: int):
    rows = (
        Submission.objects.filter(
            farmer_id=farmer_id, status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED]
        )
        .order_by("-settled_at", "-id")
        .values_list(
            "id",
            "quality_score",
            "settlement_terms",
            "settled_at",
            "submitted_at",
            "claim__created_at",
            "factory__expected_minutes",
        )[:MAX_HISTORY]
    )
    for _id, score, terms, settled_at, submitted_at, claimed_at, expected in rows:
        yield (
            _id,
            WorkRecord(
                quality_score=score,
                threshold=Decimal(terms.get("quality_threshold", "0.5")),
                settled_at=settled_at,
                minutes_taken=(submitted_at - claimed_at).total_seconds() / 60,
                expected_minutes=expected,
            ),
        )


@transaction.atomic
def reputation_recompute(*, farmer_id: int) -> FarmerProfile:
    """Recompute from settled work and keep a snapshot (idempotent per newest submission)."""
    profile, _ = FarmerProfile.objects.select_for_update().get_or_create(user_id=farmer_id)
    rows = list(_records(farmer_id))
    newest_id = rows[0][0] if rows else None
    reputation, breakdown = reputation_compute((record for _, record in rows), now=timezone.now())
    profile.reputation = reputation
    profile.breakdown = breakdown
    profile.settled_count = len(rows)
    profile.updated_at = timezone.now()
    profile.save()
    if newest_id is not None:
        try:
            with transaction.atomic():
                ReputationSnapshot.objects.create(
                    user_id=farmer_id, reputation=reputation, breakdown=breakdown, last_submission_id=newest_id
                )
        except IntegrityError:
            pass  # already recorded for this submission (a redelivered task)
    return profile


def farmer_profile_create(*, user) -> FarmerProfile:
    from .reputation import NEWCOMER_REPUTATION

    profile, _ = FarmerProfile.objects.get_or_create(user=user, defaults={"reputation": NEWCOMER_REPUTATION})
    return profile
