"""Celery entry points for farmers."""

from celery import shared_task
from django.core.cache import cache

from .services import REFRESH_KEY, reputation_recompute, reputation_refresh_flagged


@shared_task(name="farmers.reputation_recompute", acks_late=True, time_limit=60, soft_time_limit=50)
def reputation_recompute_task(farmer_id: int) -> str:
    return str(reputation_recompute(farmer_id=farmer_id).reputation)


@shared_task(name="farmers.reputation_refresh", acks_late=True, time_limit=600, soft_time_limit=580)
def reputation_refresh_task() -> int:
    """Recompute flagged farmers; if more were flagged meanwhile, run again."""
    done = reputation_refresh_flagged()
    cache.delete(REFRESH_KEY)
    from .models import FarmerProfile

    if FarmerProfile.objects.filter(needs_refresh=True).exists() and cache.add(REFRESH_KEY, 1, timeout=2):
        reputation_refresh_task.delay()
    return done
