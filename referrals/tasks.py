"""Celery entry points for referrals."""

from celery import shared_task

from .services import unstakes_release_due


@shared_task(name="referrals.unstakes_release", time_limit=300, soft_time_limit=280)
def unstakes_release_task() -> int:
    return unstakes_release_due()
