"""Celery entry points for farmers."""

from celery import shared_task

from core.queue import wake_up, wake_up_clear

from .models import FarmerProfile
from .services import REFRESH_COALESCE_SECONDS, REFRESH_KEY, reputation_recompute, reputation_refresh_flagged


@shared_task(name="farmers.reputation_recompute", acks_late=True, time_limit=60, soft_time_limit=50)
def reputation_recompute_task(farmer_id: int) -> str:
    return str(reputation_recompute(farmer_id=farmer_id).reputation)


@shared_task(name="farmers.reputation_refresh", acks_late=True, time_limit=600, soft_time_limit=580)
def reputation_refresh_task() -> int:
    """Recompute flagged farmers; if more were flagged meanwhile, run again (coalesced with the
    settlements' wake-ups through the same mark)."""
    done = reputation_refresh_flagged()
    wake_up_clear(REFRESH_KEY)
    if FarmerProfile.objects.filter(needs_refresh=True).exists():
        wake_up("farmers.reputation_refresh", key=REFRESH_KEY, window_seconds=REFRESH_COALESCE_SECONDS)
    return done
