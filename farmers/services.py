"""Writes for farmers: the farmer profile and reputation recomputation (docs/reputation.md)."""

from __future__ import annotations

import hashlib
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from pools.models import Submission

from .models import FarmerProfile, ReputationSnapshot
from .reputation import MAX_HISTORY, NEWCOMER_REPUTATION, WorkRecord, reputation_compute

DEFAULT_THRESHOLD = "0.5"


def _work(farmer_id: int) -> list[tuple[int, str, WorkRecord]]:
    """(submission id, status, record) for the farmer's newest settled work, newest first."""
    rows = (
        Submission.objects.filter(
            farmer_id=farmer_id, status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED]
        )
        .order_by("-settled_at", "-id")
        .values_list(
            "id",
            "status",
            "quality_score",
            "settlement_terms",
            "settled_at",
            "submitted_at",
            "claim__created_at",
            "factory__expected_minutes",
        )[:MAX_HISTORY]
    )
    return [
        (
            submission_id,
            status,
            WorkRecord(
                quality_score=score,
                threshold=Decimal((terms or {}).get("quality_threshold", DEFAULT_THRESHOLD)),
                settled_at=settled_at,
                minutes_taken=(submitted_at - claimed_at).total_seconds() / 60,
                expected_minutes=expected,
            ),
        )
        for submission_id, status, score, terms, settled_at, submitted_at, claimed_at, expected in rows
    ]


def _fingerprint(work: list[tuple[int, str, WorkRecord]]) -> str:
    text = ";".join(f"{sid}:{status}:{record.quality_score}:{record.threshold}" for sid, status, record in work)
    return hashlib.sha256(text.encode()).hexdigest()


@transaction.atomic
def reputation_recompute(*, farmer_id: int) -> FarmerProfile:
    """Recompute a farmer's reputation from their settled work and keep a snapshot.

    Idempotent: the formula measures ages from the newest settled work (not the clock), so the
    same work gives the same score, and a snapshot is added only when the inputs changed (a new
    settlement, or a corrected score). The profile row lock serializes concurrent recomputes.
    """
    profile, _ = FarmerProfile.objects.select_for_update().get_or_create(
        user_id=farmer_id, defaults={"reputation": NEWCOMER_REPUTATION}
    )
    work = _work(farmer_id)
    reputation, breakdown = reputation_compute(record for _, _, record in work)
    profile.reputation = reputation
    profile.breakdown = breakdown
    profile.settled_count = len(work)
    profile.updated_at = timezone.now()
    profile.save()
    if work:
        try:
            with transaction.atomic():
                ReputationSnapshot.objects.create(
                    user_id=farmer_id,
                    reputation=reputation,
                    breakdown=breakdown,
                    last_submission_id=work[0][0],
                    inputs_fingerprint=_fingerprint(work),
                )
        except IntegrityError:
            pass  # the same inputs were already recorded (a redelivered task)
    return profile


def farmer_profile_create(*, user) -> FarmerProfile:
    profile, _ = FarmerProfile.objects.get_or_create(user=user, defaults={"reputation": NEWCOMER_REPUTATION})
    return profile
