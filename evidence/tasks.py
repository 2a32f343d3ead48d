"""Celery entry points of the evidence app: load ids, call one service.

`evidence.recording_examine` runs on its own queue (`evidence`, forge/settings/base.py
CELERY_TASK_ROUTES): decoding and OCR are CPU-heavy, and a burst of recordings must not delay
settlements. A submission's `evidence_status` "pending" is the durable intent; the sweeper sends
the task again for a recording whose task was lost (a broker outage, a killed worker).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from core.db import TransactionBusy

from .services import recording_examine, recordings_sweep
from .uploads import uploads_expire

logger = logging.getLogger(__name__)

TRANSIENT = (OperationalError, TransactionBusy)
RETRY = {"retry_backoff": 5, "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}
# acks_late + reject_on_worker_lost: a worker killed mid-examination leaves the message to be
# delivered again; its transaction rolled back whole (the service is idempotent).
EXAMINE_TASK = {"acks_late": True, "reject_on_worker_lost": True, "time_limit": 900, "soft_time_limit": 840}


@shared_task(name="evidence.recording_examine", autoretry_for=TRANSIENT, **RETRY, **EXAMINE_TASK)
def recording_examine_task(submission_id: int) -> bool:
    return recording_examine(submission_id=submission_id)


@shared_task(name="evidence.recordings_sweep", time_limit=300, soft_time_limit=280)
def recordings_sweep_task() -> int:
    """Send the examination again for every recording still waiting for its evidence
    FORGE_EVIDENCE_SWEEP_AFTER_SECONDS after submission (and after its last sending), at most
    FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS times, then hold it for staff; returns how many were sent."""
    sent, given_up = recordings_sweep(
        older_than_seconds=settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS,
        max_attempts=settings.FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS,
    )
    if sent:
        logger.warning("evidence sweeper: %d recording(s) still waiting for their evidence; sent again", sent)
    if given_up:
        logger.error("evidence sweeper: %d recording(s) never examined; held for staff review", given_up)
    return sent


@shared_task(name="evidence.uploads_expire", time_limit=600, soft_time_limit=540)
def uploads_expire_task() -> int:
    """Beat: delete expired and used resumable uploads with their chunk files (idempotent)."""
    return uploads_expire()
