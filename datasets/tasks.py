"""Celery entry points for datasets and alerts. Each loads ids, calls one service, nothing more.

The task names keep the "pools." prefix they had before datasets left pools: messages already
queued and the beat schedule (settings.CELERY_BEAT_SCHEDULE) name them.
"""

from celery import shared_task
from django.conf import settings

# An export can run far longer than the broker's visibility timeout, so its message is
# acknowledged on receipt (acks_late=False): the Export row is the durable record, and
# `pools.exports_sweep` re-sends queued exports and takes back running ones whose heartbeat
# stopped (a dead worker).


@shared_task(
    name="pools.export_build",
    acks_late=False,
    time_limit=settings.FORGE_EXPORT_TIME_LIMIT,
    soft_time_limit=settings.FORGE_EXPORT_TIME_LIMIT - 60,
)
def export_build_task(export_id: int) -> str:
    from .services.exports import export_build

    return export_build(export_id=export_id).status


@shared_task(name="pools.exports_sweep", time_limit=120, soft_time_limit=100)
def exports_sweep_task() -> dict:
    from .services.exports import exports_sweep

    return exports_sweep()


@shared_task(name="pools.alerts_check", time_limit=300, soft_time_limit=280)
def alerts_check_task() -> int:
    from .services.alerts import alerts_check

    return len(alerts_check())
