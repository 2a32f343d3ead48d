"""The high-throughput path: score and settle submissions in batches, set-based.

Same rules and the same guarantees as `submission_score` + `submission_settle` (one
`settle:<id>` ledger transaction per submission, status checked under row locks), but a
batch of N submissions costs a fixed number of SQL statements instead of ~30 per
submission:

    take_batch       UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
    score_batch      grade in memory; duplicate checks in 2 queries; 1 bulk UPDATE
    settle_batch     lock rows; shares in memory; ledger.bulk.transactions_post_many;
                     1 bulk UPDATE of submissions; 1 UPDATE of factory counters

Two workers never take the same rows (SKIP LOCKED), so they scale across processes and
machines. Anything left behind by a crash is found again by the sweeper (tasks.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.db import bulk_update_values

from ..grading import GRADER_HTTP, GRADER_MANUAL, GRADER_RULES, GraderUnavailable, ManualGradingOnly, TaskContext, grade
from ..models import Attachment, Factory, Submission
from .integrity import too_fast_flag
from .settlement import settle_rows
from .submissions import MAX_SCORING_ATTEMPTS

logger = logging.getLogger(__name__)


def batch_size() -> int:
    # An outside grader answers one request at a time: small batches keep each task short.
    return settings.FORGE_HTTP_BATCH_SIZE if settings.FORGE_GRADER == GRADER_HTTP else settings.FORGE_BATCH_SIZE


def waiting_filter(now) -> Q:
    """Rows this processor should take: waiting to be scored (not while backing off after a
    grader failure; never with the manual grader), or scored and left unsettled for a while
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
    waiting = Q(status=Submission.Status.SUBMITTED, needs_review=False) & (
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    )
    return unsettled & (waiting | orphaned)


def pending_exists() -> bool:
    return Submission.objects.filter(waiting_filter(timezone.now())).exists()


# What grading reads of a submission and of its factory.
ROW_FIELDS = ("pk", "factory_id", "demonstration", "sequence_fingerprint")
TASK_FIELDS = ("pk", "title", "instructions", "expected_minutes")


def _lock_waiting(limit: int, now) -> list[int]:
    """Lock up to `limit` waiting rows (SKIP LOCKED: rows another worker holds are passed
    over), in id order; returns their ids."""
    return list(
        Submission.objects.select_for_update(skip_locked=True)
        .filter(waiting_filter(now))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


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


def _duplicate_flags(rows: list[Submission]) -> dict[int, list[str]]:
    """Duplicate sequences and attachments, for a whole batch in two queries."""
    flags: dict[int, list[str]] = defaultdict(list)
    fingerprints = [row.sequence_fingerprint for row in rows if row.sequence_fingerprint]
    seen = dict(
        Submission.objects.filter(sequence_fingerprint__in=fingerprints)
        .values("sequence_fingerprint")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("sequence_fingerprint", "n")
    )
    for row in rows:
        if row.sequence_fingerprint in seen:
            flags[row.pk].append("The same sequence of actions was already submitted.")
    attachments = list(
        Attachment.objects.filter(submission_id__in=[row.pk for row in rows]).values_list("submission_id", "sha256")
    )
    if attachments:
        # Submissions per file, not files: one submission carrying a file twice is no copy.
        counts = dict(
            Attachment.objects.filter(sha256__in={sha for _, sha in attachments})
            .values("sha256")
            .annotate(n=Count("submission_id", distinct=True))
            .values_list("sha256", "n")
        )
        for submission_id, sha in attachments:
            reason = "An attachment identical to one already submitted."
            if counts.get(sha, 0) > 1 and reason not in flags[submission_id]:
                flags[submission_id].append(reason)
    return flags


SCORE_FIELDS = [
    "quality_score",
    "score_confidence",
    "score_breakdown",
    "score_reasons",
    "graded_by",
    "scored_at",
    "scoring_error",
    "next_attempt_at",
    "needs_review",
    "review_reasons",
]


def _grade_rows(rows: list[Submission], now) -> tuple[list[Submission], dict[int, str]]:
    """Grade `rows` in memory: sets the score fields and review holds on each instance;
    returns (scored rows, {id: error} for grader failures). No writes."""
    if not rows:
        return [], {}
    flags = _duplicate_flags(rows)
    factories = Factory.objects.only(*TASK_FIELDS).in_bulk({row.factory_id for row in rows})
    review_below = Decimal(str(settings.FORGE_REVIEW_BELOW_CONFIDENCE or 0))
    tasks: dict[int, TaskContext] = {}
    scored, failed = [], {}
    for row in rows:
        factory = factories[row.factory_id]
        task = tasks.get(factory.pk) or tasks.setdefault(
            factory.pk,
            TaskContext(
                title=factory.title, instructions=factory.instructions, expected_minutes=factory.expected_minutes
            ),
        )
        try:
            result = grade(row.demonstration, task=task)
        except ManualGradingOnly:
            continue
        except GraderUnavailable as error:
            failed[row.pk] = str(error)[:255]
            continue
        holds = list(flags.get(row.pk, []))
        if review_below and result.confidence < review_below:
            holds.append(f"Low grader confidence ({result.confidence}).")
        too_fast = too_fast_flag(row.demonstration, factory.expected_minutes)
        if too_fast:
            holds.append(too_fast)
        row.quality_score = result.score
        row.score_confidence = result.confidence
        row.score_breakdown = result.breakdown
        row.score_reasons = result.reasons
        row.graded_by = result.grader
        row.scored_at = now
        row.scoring_error = ""  # an earlier failure's message no longer applies
        row.next_attempt_at = None
        row.needs_review = bool(holds)
        row.review_reasons = holds
        scored.append(row)
    return scored, failed


def score_batch(submission_ids: list[int]) -> list[int]:
    """Grade every unscored submission of the batch once (outside any long transaction, for
    graders that call out); returns the ids ready to settle."""
    rows = list(Submission.objects.filter(pk__in=submission_ids, quality_score__isnull=True).only(*ROW_FIELDS))
    if not rows:
        return []
    now = timezone.now()
    scored, failed = _grade_rows(rows, now)
    with transaction.atomic():
        # Re-check under lock: only rows still unscored take this score (compare-and-swap).
        still_open = set(
            Submission.objects.select_for_update(of=("self",))
            .filter(pk__in=[row.pk for row in scored], quality_score__isnull=True)
            .values_list("pk", flat=True)
        )
        bulk_update_values(Submission, [row for row in scored if row.pk in still_open], SCORE_FIELDS)
        if failed:
            _back_off(failed, now)
    return [row.pk for row in scored if row.pk in still_open and not row.needs_review]


def _back_off(failed: dict[int, str], now) -> None:
    """The grader could not answer: wait (exponential backoff) and try again; after
    MAX_SCORING_ATTEMPTS, hold for staff review instead of retrying forever."""
    rows = list(
        Submission.objects.filter(pk__in=list(failed), quality_score__isnull=True).only("pk", "scoring_attempts")
    )
    for row in rows:
        row.scoring_attempts += 1
        row.scoring_error = failed[row.pk]
        row.status = Submission.Status.SUBMITTED
        row.next_attempt_at = now + timedelta(seconds=min(5 * 2**row.scoring_attempts, 3600))
        row.needs_review = row.scoring_attempts >= MAX_SCORING_ATTEMPTS
        row.review_reasons = (
            [f"The grader failed {row.scoring_attempts} times; last error: {failed[row.pk][:200]}"]
            if row.needs_review
            else []
        )
    bulk_update_values(
        Submission,
        rows,
        ["scoring_attempts", "scoring_error", "status", "next_attempt_at", "needs_review", "review_reasons"],
    )


@transaction.atomic
def settle_batch(submission_ids: list[int]) -> int:
    """Settle every scored, unheld, unsettled submission of the batch; returns how many."""
    rows = list(
        Submission.objects.select_for_update(of=("self",))
        .filter(
            pk__in=submission_ids, status=Submission.Status.SCORING, quality_score__isnull=False, needs_review=False
        )
        .select_related("claim")
        .only("pk", "factory_id", "farmer_id", "quality_score", "status", "claim__reward")
        .order_by("pk")
    )
    if not rows:
        return 0
    settle_rows(rows)
    return len(rows)


def process_batch(*, limit: int | None = None) -> int:
    """Take, score and settle one batch. Returns how many submissions were taken (0: none).

    With a grader that answers in-process (`rules`), the whole batch is one transaction: rows
    are locked with SKIP LOCKED, graded, settled and written once. With a grader that calls out
    (`http`), rows are taken first and graded outside any transaction (take_batch, score_batch,
    settle_batch), so a slow service never holds locks."""
    limit = limit or batch_size()
    started = time.perf_counter()
    if settings.FORGE_GRADER == GRADER_RULES:
        taken, settled, timings = _process_inline(limit)
    else:
        ids = take_batch(limit=limit)
        if not ids:
            return 0
        took = time.perf_counter()
        ready = score_batch(ids)
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


@transaction.atomic
def _process_inline(limit: int) -> tuple[int, int, tuple[float, float, float]]:
    started = time.perf_counter()
    now = timezone.now()
    # Lock ids only, then load the rows: the locking query walks the queue index in id order
    # and stops at `limit` whatever the planner's statistics say (with stale statistics, a
    # plan that joins and sorts every waiting row, payloads included, costs O(queue) per batch).
    ids = _lock_waiting(limit, now)
    rows = list(
        Submission.objects.filter(pk__in=ids)
        .select_related("claim")
        .only(*ROW_FIELDS, "farmer_id", "status", "quality_score", "needs_review", "claim__reward")
        .order_by("pk")
    )
    if not rows:
        return 0, 0, (0.0, 0.0, 0.0)
    took = time.perf_counter()
    scored, failed = _grade_rows([row for row in rows if row.quality_score is None], now)
    if failed:
        _back_off(failed, now)
    graded = time.perf_counter()
    ready = [row for row in rows if row.quality_score is not None and not row.needs_review]
    held = [row for row in scored if row.needs_review]
    for row in held:
        row.status = Submission.Status.SCORING
    bulk_update_values(Submission, held, [*SCORE_FIELDS, "status"])
    if ready:
        settle_rows(ready, write_fields=SCORE_FIELDS)
    return len(rows), len(ready), (took - started, graded - took, time.perf_counter() - graded)
