"""Celery entry point of the receipts app: build, then publish (beat, every 5 minutes)."""

import logging

from celery import shared_task

from .keys import NoReceiptKey
from .services import receipt_batches_publish, receipts_build

logger = logging.getLogger(__name__)


@shared_task(name="receipts.publish", acks_late=True, reject_on_worker_lost=True, time_limit=600, soft_time_limit=540)
def receipts_publish_task() -> dict | None:
    """Sign the receipts of rows settled since the last run, then publish every finished hour.
    Idempotent (one receipt per submission, one batch per hour). Off without a receipt key."""
    written = 0
    try:
        while (count := receipts_build(limit=500)) > 0:
            written += count
            if count < 500:
                break
        batches = receipt_batches_publish()
    except NoReceiptKey:
        return None
    logger.info("receipts: %s written, %s hours published", written, len(batches))
    return {"written": written, "published": [b.hour.isoformat() for b in batches]}
