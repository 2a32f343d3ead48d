"""The high-throughput path: score and settle submissions in batches, set-based.

Scoring is the one scoring service (`services/scoring.py`) and settlement the one settlement
(`settlement.settle_rows`: one `settle:<id>` ledger transaction per submission, status
checked under row locks); a batch of N submissions costs a fixed number of SQL statements:

    take_batch       UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
    scoring          grade in memory; duplicate holds in 2 queries; 1 bulk UPDATE
    settle_batch     lock rows; shares in memory; ledger.services.transactions_write + balances_apply;
                     1 bulk UPDATE of submissions; 1 UPDATE of factory counters

Two workers never take the same rows (SKIP LOCKED), so they scale across processes and
machines. Anything left behind by a crash is found again by the sweeper (tasks.py).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.db import AnyId, atomic_with_retry, bulk_update_values  # noqa: F401 - AnyId registers `__any_id`

from ..grading import GRADER_HTTP, GRADER_MANUAL, GRADER_RULES
from ..locks import submissions_lock, submissions_lock_waiting
from ..models import Submission
from .notices import submissions_notify_held
from .scoring import (
    CLAIM_FIELDS,
    ROW_FIELDS,
    SCORE_FIELDS,
    grader_failures_back_off,
    submissions_grade,
    submissions_score,
)
from .settlement import settle_rows

logger = logging.getLogger(__name__)


def batch_size() -> int:
    # An outside grader answers one request at a time: small batches keep each task short.
    return settings.FORGE_HTTP_BATCH_SIZE if settings.FORGE_GRADER == GRADER_HTTP else settings.FORGE_BATCH_SIZE


def drain_seconds() -> float:
    """How long one processing run takes full batches back to back (pools/tasks.py). Only with
    the in-process grader: a batch of the outside grader's is bounded by its calls, not its
    size, and stays one per run so that a run stays well inside the task's time limit."""
    return settings.FORGE_BATCH_DRAIN_SECONDS if settings.FORGE_GRADER == GRADER_RULES else 0.0


def waiting_filter(now) -> Q:
    """Rows this processor should take: waiting to be scored (not while backing off after a
    grader failure, not while a recording's evidence is being examined; never with the manual
    grader), or scored and left unsettled for a while
    (their worker died between scoring and settling)."""
    orphaned = Q(
        status=Submission.Status.SCORING,
        quality_score__isnull=False,
        needs_review=False,
        scored_at__lte=now - timedelta(seconds=settings.FORGE_RESETTLE_AFTER_SECONDS),
    ) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))  # not leased to a worker
    # Spelled out as its own AND term so PostgreSQL uses the partial queue index.
    unsettled = Q(status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING])
    if settings.FORGE_GRADER == GRADER_MANUAL:
        return unsettled & orphaned
    # A recording still being examined waits for its evidence task (pools/services/evidence.py).
    waiting = (
        Q(status=Submission.Status.SUBMITTED, needs_review=False)
        & ~Q(evidence_status=Submission.Evidence.PENDING)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )
    return unsettled & (waiting | orphaned)


def pending_exists() -> bool:
    return Submission.objects.filter(waiting_filter(timezone.now())).exists()


def _lock_waiting(limit: int, now) -> list[int]:
    """Lock up to `limit` waiting rows (SKIP LOCKED: rows another worker holds are passed
    over), in id order; returns their ids."""
    return submissions_lock_waiting(waiting_filter(now), limit=limit)


def take_batch(*, limit: int) -> list[int]:
    """Take up to `limit` rows for this worker (marks them `scoring`); SKIP LOCKED keeps two
    workers from taking the same rows at once, and what the take writes keeps them from taking
    the same rows afterwards: waiting rows become `scoring`, and orphans (already `scoring`)
    are leased to this worker for FORGE_RESETTLE_AFTER_SECONDS through `next_attempt_at`."""
    now = timezone.now()
    with transaction.atomic():
        ids = _lock_waiting(limit, now)
        if ids:
            Submission.objects.filter(pk__in=ids, status=Submission.Status.SUBMITTED).update(
                status=Submission.Status.SCORING
            )
            Submission.objects.filter(pk__in=ids, quality_score__isnull=False).update(
                next_attempt_at=now + timedelta(seconds=settings.FORGE_RESETTLE_AFTER_SECONDS)
            )
    return ids


@atomic_with_retry
def settle_batch(submission_ids: list[int]) -> int:
    """Settle every scored, unheld, unsettled submission of the batch; returns how many."""
    rows = list(
        submissions_lock(
            submission_ids, status=Submission.Status.SCORING, quality_score__isnull=False, needs_review=False
        )
        .select_related("claim")
        .only("pk", "factory_id", "farmer_id", "quality_score", "status", "submitted_at", "claim__reward")
    )
    if not rows:
        return 0
    settle_rows(rows)
    return len(rows)


def process_batch(*, limit: int | None = None) -> int:
    """Take, score and settle one batch. Returns how many submissions were taken (0: none).

    With a grader that answers in-process (`rules`), the whole batch is one transaction: rows
    are locked with SKIP LOCKED, graded, settled and written once. With a grader that calls out
    (`http`), rows are taken first and graded outside any transaction (take_batch,
    scoring.submissions_score, settle_batch), so a slow service never holds locks."""
    limit = limit or batch_size()
    started = time.perf_counter()
    if settings.FORGE_GRADER == GRADER_RULES:
        taken, settled, timings = _process_inline(limit)
    else:
        ids = take_batch(limit=limit)
        if not ids:
            return 0
        took = time.perf_counter()
        ready = submissions_score(ids)
        # Orphans taken because they were scored long ago are ready as they are.
        ready = sorted(
            set(ready)
            | set(
                Submission.objects.filter(
                    pk__in=ids, status=Submission.Status.SCORING, quality_score__isnull=False, needs_review=False
                ).values_list("pk", flat=True)
            )
        )
        scored = time.perf_counter()
        settled = settle_batch(ready) if ready else 0
        taken, timings = len(ids), (took - started, scored - took, time.perf_counter() - scored)
    if taken:
        logger.info(
            "batch took=%d settled=%d take_ms=%.1f score_ms=%.1f settle_ms=%.1f",
            taken,
            settled,
            *(seconds * 1000 for seconds in timings),
        )
    return taken


@atomic_with_retry
def _process_inline(limit: int) -> tuple[int, int, tuple[float, float, float]]:
    started = time.perf_counter()
    now = timezone.now()
    # Lock ids only, then load the rows: the locking query walks the queue index in id order
    # and stops at `limit` whatever the planner's statistics say (with stale statistics, a
    # plan that joins and sorts every waiting row, payloads included, costs O(queue) per batch).
    ids = _lock_waiting(limit, now)
    if not ids:
        return 0, 0, (0.0, 0.0, 0.0)
    rows = list(
        Submission.objects.filter(pk__any_id=ids)
        .select_related("claim")  # what grading (CLAIM_FIELDS: the frozen terms) and settling read of it
        .select_related("signature")  # its LSH keys, for the near-duplicate lookup
        .only(
            *ROW_FIELDS,
            "signature__bands",
            "farmer_id",
            "status",
            "quality_score",
            "needs_review",
            *(f"claim__{name}" for name in CLAIM_FIELDS if name != "pk"),
            "claim__reward",
        )
        .order_by("pk")
    )
    if not rows:
        return 0, 0, (0.0, 0.0, 0.0)
    took = time.perf_counter()
    grading = submissions_grade([row for row in rows if row.quality_score is None], now=now)
    if grading.failed:
        grader_failures_back_off(grading.failed, now)
    graded = time.perf_counter()
    ready = [row for row in rows if row.quality_score is not None and not row.needs_review]
    for row in grading.held:
        row.status = Submission.Status.SCORING
    bulk_update_values(Submission, grading.held, [*SCORE_FIELDS, "status"])
    submissions_notify_held(grading.held)
    if ready:
        settle_rows(ready, write_fields=SCORE_FIELDS)
    return len(rows), len(ready), (took - started, graded - took, time.perf_counter() - graded)
