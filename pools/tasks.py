"""Celery entry points for the engine. Each loads ids, calls one service, nothing more.

Every task is idempotent (delivery is at-least-once): the services check the submission's
status under a row lock. `acks_late` + `reject_on_worker_lost` (settings) mean a worker that
dies mid-task leaves the message to be redelivered; the database transaction it was in
rolled back whole.
"""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from core.db import TransactionBusy
from core.queue import wake_up, wake_up_clear, wake_up_hold, wake_up_pass

from .models import Submission
from .services.batch import batch_size, drain_seconds, pending_exists, process_batch, waiting_filter
from .services.claims import claims_expire_due
from .services.settlement import NotReadyToSettle, submission_settle
from .services.submissions import WAKE_UP_COALESCE_SECONDS, WAKE_UP_KEY

logger = logging.getLogger(__name__)

MONEY_TASK = {"acks_late": True, "reject_on_worker_lost": True, "time_limit": 120, "soft_time_limit": 100}
# A lost database connection or a deadlock victim rolled back whole (TransactionBusy: every
# in-process retry lost, core/db.py): try again shortly.
TRANSIENT = (OperationalError, TransactionBusy)
RETRY = {"retry_backoff": 5, "retry_backoff_max": 300, "retry_jitter": True, "max_retries": 8}


@shared_task(name="pools.submission_settle", autoretry_for=TRANSIENT, **RETRY, **MONEY_TASK)
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


PROCESS_PENDING = "pools.submissions_process_pending"


@shared_task(name=PROCESS_PENDING, autoretry_for=TRANSIENT, **RETRY, **MONEY_TASK)
def submissions_process_pending_task() -> int:
    """Score and settle waiting submissions in batches, each its own transaction, for up to
    `drain_seconds()` (a message per batch cost a broker round trip and a worker hand-over
    each time): a full batch is followed by the next at once; a batch that was not full, with
    more arrived meanwhile (a stream, not a backlog), by the next FORGE_BATCH_GATHER_SECONDS
    later, holding the wake-up mark, so that rows gather into one batch instead of each few
    paying a batch's fixed cost (about 30 statements). Then pass the baton: another run while
    there is more, keeping the mark (core/queue.py `wake_up_pass`: submissions arriving
    meanwhile start no second chain beside it); or, when the queue is drained, clear the mark
    and look once more so nothing committed meanwhile waits for the sweeper. Returns how many
    were taken."""
    deadline = time.monotonic() + drain_seconds()
    gather = settings.FORGE_BATCH_GATHER_SECONDS
    taken = total = process_batch()
    while time.monotonic() < deadline:
        if taken < batch_size():
            if not (gather and taken and pending_exists()):
                break
            wake_up_hold(WAKE_UP_KEY, seconds=gather + WAKE_UP_COALESCE_SECONDS)
            time.sleep(gather)
        taken = process_batch()
        total += taken
    window = {"key": WAKE_UP_KEY, "window_seconds": WAKE_UP_COALESCE_SECONDS}
    if taken >= batch_size() or (taken and pending_exists()):
        wake_up_pass(PROCESS_PENDING, **window)
    else:
        wake_up_clear(WAKE_UP_KEY)
        if pending_exists():
            wake_up(PROCESS_PENDING, **window)
    return total


@shared_task(name="pools.claims_expire", time_limit=300, soft_time_limit=280)
def claims_expire_task() -> int:
    return claims_expire_due()


@shared_task(name="pools.submissions_sweep", time_limit=300, soft_time_limit=280)
def submissions_sweep_task() -> int:
    """Recover what a broker outage or a lost worker left behind; returns how many waited.

    Rows left in `scoring` without a score for too long (their worker died mid-grading) go
    back to waiting; then, if anything waits, the batch processor is woken up."""
    cutoff = timezone.now() - timezone.timedelta(seconds=settings.FORGE_SWEEP_AFTER_SECONDS)
    reset = Submission.objects.filter(
        status=Submission.Status.SCORING, quality_score__isnull=True, needs_review=False, submitted_at__lte=cutoff
    ).update(status=Submission.Status.SUBMITTED)
    waiting = Submission.objects.filter(waiting_filter(timezone.now()), submitted_at__lte=cutoff).count()
    if waiting:
        submissions_process_pending_task.delay()
        logger.warning("sweeper: %d submission(s) waiting (%d reset from scoring); processor woken", waiting, reset)
    return waiting
