"""Celery entry points of the evidence app: load ids, call one service."""

from celery import shared_task

from .uploads import uploads_expire


@shared_task(name="evidence.uploads_expire", time_limit=600, soft_time_limit=540)
def uploads_expire_task() -> int:
    """Beat: delete expired and used resumable uploads with their chunk files (idempotent)."""
    return uploads_expire()
