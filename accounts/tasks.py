"""Celery entry points for accounts."""

from celery import shared_task

from .links import signin_signals_purge


@shared_task(name="accounts.signin_signals_purge", time_limit=600, soft_time_limit=580)
def signin_signals_purge_task() -> int:
    return signin_signals_purge()
