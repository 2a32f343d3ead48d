"""Writes for farmers: the farmer profile and reputation recomputation (docs/reputation.md)."""

from __future__ import annotations

import hashlib
import logging
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from forge.money import parse_amount
from pools.models import Submission

from .models import FarmerProfile, ReputationSnapshot
from .reputation import MAX_HISTORY, NEWCOMER_REPUTATION, WorkRecord, reputation_compute

DEFAULT_THRESHOLD = "0.5"

logger = logging.getLogger(__name__)


def _minimum_rewards() -> dict[str, int]:
    """{token symbol: base units}: work paying less per demonstration counts for nothing."""
    from ledger.models import Token

    minimums = settings.FORGE_REPUTATION_MIN_REWARD
    return {
        token.symbol: parse_amount(minimums[token.symbol], decimals=token.decimals, allow_zero=True)
        for token in Token.objects.filter(symbol__in=minimums)
    }


def _linked_creators(farmer_id: int) -> set[int]:
    """Creators who are, by what we can see, the farmer under another account: a shared
    withdrawal wallet, or a direct referral either way."""
    from accounts.selectors import users_sharing_a_wallet_with
    from referrals.selectors import users_referral_linked_to

    return users_sharing_a_wallet_with(farmer_id) | users_referral_linked_to(farmer_id)


def _work(farmer_id: int) -> list[tuple[int, str, WorkRecord]]:
    """(submission id, status, record) for the farmer's newest settled work that counts, newest
    first. Negligible-value work and work for a linked creator (self-dealing) count for
    nothing: they are left out, as if never done (docs/reputation.md)."""
    negligible = Q(pk__in=[])
    for symbol, units in _minimum_rewards().items():
        negligible |= Q(factory__token__symbol=symbol, claim__reward__lt=units)
    rows = (
        Submission.objects.filter(
            farmer_id=farmer_id, status__in=[Submission.Status.SETTLED, Submission.Status.REJECTED]
        )
        .exclude(negligible)
        .exclude(factory__creator_id__in=_linked_creators(farmer_id))
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
    profile.needs_refresh = False
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


REFRESH_KEY = "farmers:reputation-refresh:wake-up"
REFRESH_COALESCE_SECONDS = 2


def reputation_mark_for_refresh(*, farmer_ids) -> None:
    """Call inside the settling transaction: flag the farmers (one UPDATE) and, after commit,
    wake the refresh task at most once per REFRESH_COALESCE_SECONDS."""
    farmer_ids = sorted(set(farmer_ids))
    if not farmer_ids:
        return
    existing = set(FarmerProfile.objects.filter(user_id__in=farmer_ids).values_list("user_id", flat=True))
    FarmerProfile.objects.bulk_create(
        [FarmerProfile(user_id=pk, reputation=NEWCOMER_REPUTATION) for pk in farmer_ids if pk not in existing],
        ignore_conflicts=True,
    )
    FarmerProfile.objects.filter(user_id__in=farmer_ids, needs_refresh=False).update(needs_refresh=True)

    def wake() -> None:
        from .tasks import reputation_refresh_task

        # Runs after the settlement committed: an unreachable cache or broker must not fail it.
        try:
            if cache.add(REFRESH_KEY, 1, timeout=REFRESH_COALESCE_SECONDS):
                reputation_refresh_task.delay()
        except Exception:
            logger.exception("could not enqueue the reputation refresh; the periodic run will")
            try:
                cache.delete(REFRESH_KEY)
            except Exception:
                logger.warning("the cache is unreachable; the refresh mark expires by itself")

    transaction.on_commit(wake)


def reputation_refresh_flagged(*, limit: int = 2000) -> int:
    """Recompute every flagged farmer (each in its own transaction); returns how many."""
    ids = list(
        FarmerProfile.objects.filter(needs_refresh=True).order_by("user_id").values_list("user_id", flat=True)[:limit]
    )
    for farmer_id in ids:
        reputation_recompute(farmer_id=farmer_id)
    return len(ids)


def farmer_profile_create(*, user) -> FarmerProfile:
    profile, _ = FarmerProfile.objects.get_or_create(user=user, defaults={"reputation": NEWCOMER_REPUTATION})
    return profile
