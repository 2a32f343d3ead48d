"""Writes for farmers: the farmer profile and reputation recomputation (docs/reputation.md)."""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from core.db import AnyId  # noqa: F401 - registers the `__any_id` lookup
from core.queue import wake_up_on_commit

from .locks import farmer_profile_lock
from .models import FarmerProfile, ReputationSnapshot
from .reputation import MAX_HISTORY, NEWCOMER_REPUTATION, WorkRecord, reputation_compute

logger = logging.getLogger(__name__)


def _work(farmer_id: int) -> list[tuple[int, str, WorkRecord]]:
    """(submission id, status, record) for the farmer's newest settled work, newest first.

    Settled work is pools' rows, and pools sits above farmers: the query lives there
    (pools.selectors.farmer_work_records) and farmers reach it through
    settings.FARMERS_WORK_RECORDS, a dotted path, as the ledger reaches its audit checks
    (LEDGER_AUDIT_CHECKS). The dependency is named in configuration, not imported."""
    return import_string(settings.FARMERS_WORK_RECORDS)(farmer_id, limit=MAX_HISTORY)


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
    profile = farmer_profile_lock(farmer_id, defaults={"reputation": NEWCOMER_REPUTATION})
    work = _work(farmer_id)
    reputation, breakdown = reputation_compute(
        (record for _, _, record in work), max_creator_share=settings.FORGE_REPUTATION_MAX_CREATOR_SHARE
    )
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
    existing = set(FarmerProfile.objects.filter(user_id__any_id=farmer_ids).values_list("user_id", flat=True))
    FarmerProfile.objects.bulk_create(
        [FarmerProfile(user_id=pk, reputation=NEWCOMER_REPUTATION) for pk in farmer_ids if pk not in existing],
        ignore_conflicts=True,
    )
    FarmerProfile.objects.filter(user_id__any_id=farmer_ids, needs_refresh=False).update(needs_refresh=True)

    wake_up_on_commit("farmers.reputation_refresh", key=REFRESH_KEY, window_seconds=REFRESH_COALESCE_SECONDS)


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
