"""Celery entry points for the engine. Each loads ids, calls one service, nothing more.

Every task is idempotent (delivery is at-least-once): the services check the submission's
status under a row lock. `acks_late` + `reject_on_worker_lost` (settings) mean a worker that
dies mid-task leaves the message to be redelivered; the database transaction it was in
rolled back whole.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from .grading import GraderUnavailable
from .models import Submission
from .services.claims import claims_expire_due
from .services.settlement import NotReadyToSettle, submission_settle
from .services.submissions import submission_score

logger = logging.getLogger(__name__)

MONEY_TASK = {"acks_late": True, "reject_on_worker_lost": True, "time_limit": 120, "soft_time_limit": 100}
# A lost database connection or a deadlock victim rolled back whole: try again shortly.
RETRY = {"retry_backoff": 5, "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


@shared_task(
    name="pools.submission_process", autoretry_for=(GraderUnavailable, OperationalError), **RETRY, **MONEY_TASK
)
def submission_process_task(submission_id: int) -> str:
    """Score a submission, then settle it unless it is held for review."""
    submission = submission_score(submission_id=submission_id)
    if submission.quality_score is None or submission.needs_review or submission.is_final:
        return submission.status
    return _settle(submission_id)


@shared_task(name="pools.submission_settle", autoretry_for=(OperationalError,), **RETRY, **MONEY_TASK)
def submission_settle_task(submission_id: int) -> str:
    return _settle(submission_id)


def _settle(submission_id: int) -> str:
    try:
        return submission_settle(submission_id=submission_id).status
    except NotReadyToSettle as refused:
        # Not scored yet, or held for review between scoring and now: a later review
        # enqueues settlement again. Any other refusal is a bug and fails the task loudly.
        logger.info("submission %s not settled: %s", submission_id, refused.message)
        return Submission.objects.values_list("status", flat=True).get(pk=submission_id)


@shared_task(name="pools.claims_expire", time_limit=300, soft_time_limit=280)
def claims_expire_task() -> int:
    return claims_expire_due()


@shared_task(name="pools.submissions_sweep", time_limit=300, soft_time_limit=280)
def submissions_sweep_task() -> int:
    """Re-enqueue submissions left behind (broker down at submit time, a lost message)."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.FORGE_SWEEP_AFTER_SECONDS)
    stuck = Submission.objects.filter(
        status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING],
        needs_review=False,
        submitted_at__lte=cutoff,
    )
    if settings.FORGE_GRADER == "manual":
        stuck = stuck.filter(quality_score__isnull=False)
    ids = list(stuck.values_list("pk", flat=True)[:5000])
    for submission_id in ids:
        submission_process_task.delay(submission_id)
    if ids:
        logger.warning("re-enqueued %d stuck submission(s)", len(ids))
    return len(ids)
