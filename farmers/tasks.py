"""Celery entry points for farmers."""

from celery import shared_task

from .services import reputation_recompute


@shared_task(name="farmers.reputation_recompute", acks_late=True, time_limit=60, soft_time_limit=50)
def reputation_recompute_task(farmer_id: int) -> str:
    return str(reputation_recompute(farmer_id=farmer_id).reputation)
