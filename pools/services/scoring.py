"""Scoring: the one service that grades submissions and decides which are held for staff review.

Every path that scores goes through here: the batch processor (`services/batch.py`, inline
with the rules grader, or `take_batch` then `submissions_score` with a grader that calls out),
`submission_score` for one submission (a batch of one: the demo seed, tests), and grader
retries (a failure backs the row off; the batch processor takes it again when it is due).
Staff and grading-service reviews do not grade: they set the score (`submission_review`) and
settle through `services/settlement.py`.

The holds, with one message each, applied to every graded row in this order:

1. duplicates, found for the whole set in one query per kind: a near-duplicate of an earlier
   submission by the grader's similarity over every action field (candidates found through the
   signature's LSH keys, a GIN-indexed array; then compared on the signatures; across farmers
   and factories; the hold names the other submission), or an attachment with the same
   SHA-256 in any *other* submission (one submission carrying the same file twice is no copy);
2. the grader's confidence below FORGE_REVIEW_BELOW_CONFIDENCE;
3. any `hold_reasons` the grader's result carries;
4. the evidence of a screen recording (issue 17): a row whose recording is still being examined
   (`evidence_status` "pending") is not graded at all (the batch processor passes it over); an
   examined one is graded by the evidence rule (`pools/grading/evidence.py`: unsupported claims
   count for nothing, forged-looking or missing evidence holds, one reason per check).

Speed is the grader's to judge, against the task (issue 16, point 6): robotic or impossible
timing gates the score (nothing paid), while quick honest work (one click in 3 s) is paid. The
fixed "under 10 % of the expected minutes" hold that used to sit here held such work.

Each row is graded against the task terms frozen on its claim (`claim_tasks`), not the factory
as it stands.

A held row keeps its score and waits for a review; it is never paid without one.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import transaction
from django.db.models import BigIntegerField, Count, Value
from django.utils import timezone

from core.db import bulk_update_values, planner_settings
from core.metrics import grading_time_add

from ..grading import GRADER_JUDGE, GraderUnavailable, ManualGradingOnly, TaskContext, grade
from ..grading.checks import checks_from_json
from ..grading.evidence import grade_with_evidence
from ..grading.similarity import DUPLICATE_SIMILARITY, signature_similarity
from ..locks import submissions_lock
from ..models import Attachment, Claim, Factory, Submission, SubmissionSignature
from ..selectors import evidence_keyframes_read
from .notices import submissions_notify_held

# At most this many earlier submissions sharing an LSH key are compared per batch (the oldest
# first); a bound on the work, far above what honest traffic produces.
NEAR_DUPLICATE_CANDIDATES = 5000
BANDS = ArrayField(BigIntegerField())  # the type of `SubmissionSignature.bands`, for a parameter

# After this many failed scoring attempts (grader down or answering nonsense) a submission is
# held for staff review instead of being retried forever.
MAX_SCORING_ATTEMPTS = 20

HOLD_DUPLICATE_SEQUENCE = "The same sequence of actions was already submitted"  # + which, how close


def hold_near_duplicate(other_id: int, similarity: float) -> str:
    return f"{HOLD_DUPLICATE_SEQUENCE} (submission {other_id}, similarity {similarity:.2f})."


# The breakdown part that shows a near-duplicate hold beside the grader's parts (it holds the
# score for review; it does not change it).
NEAR_DUPLICATE_PART = "near_duplicate"


def near_duplicate_part(other_id: int, similarity: float) -> dict:
    return {
        "score": f"{similarity:.4f}",
        "weight": "hold",
        "reasons": [hold_near_duplicate(other_id, similarity)],
        "metrics": {"similar_to_submission": str(other_id), "similarity": f"{similarity:.4f}"},
    }


HOLD_DUPLICATE_ATTACHMENT = "An attachment identical to one already submitted."


def hold_low_confidence(confidence: Decimal, threshold: Decimal) -> str:
    return f"Low grader confidence ({confidence} < {threshold})."


def hold_grader_failed(attempts: int, error: str) -> str:
    return f"The grader failed {attempts} times; last error: {error[:200]}"


# What grading reads of a submission and of its factory.
ROW_FIELDS = (
    "pk",
    "factory_id",
    "claim_id",
    "farmer_id",
    "demonstration",
    "sequence_fingerprint",
    "submitted_at",
    "evidence_status",
    "evidence",
)
TASK_FIELDS = ("pk", "title", "instructions", "expected_minutes")
CLAIM_FIELDS = ("pk", "factory_id", "terms", "created_at")
SCORE_FIELDS = [
    "quality_score",
    "score_confidence",
    "score_breakdown",
    "score_reasons",
    "graded_by",
    "rubric_version",
    "scored_at",
    "scoring_error",
    "next_attempt_at",
    "needs_review",
    "review_reasons",
]


@dataclass
class Grading:
    """What `submissions_grade` made of a set of rows (nothing written yet)."""

    scored: list[Submission] = field(default_factory=list)  # graded, ready to settle
    held: list[Submission] = field(default_factory=list)  # graded, held for staff review
    failed: dict[int, str] = field(default_factory=dict)  # grader failures: {id: error}

    @property
    def graded(self) -> list[Submission]:
        return self.scored + self.held


def duplicate_holds(rows: list[Submission], copies: dict[int, tuple[int, float]] | None = None) -> dict[int, list[str]]:
    """{submission id: duplicate holds} for a whole set: one query per kind of copy. `copies`,
    when given, receives {submission id: (the earlier submission, similarity)}."""
    holds: dict[int, list[str]] = defaultdict(list)
    for row_id, other_id, similarity in near_duplicates(rows):
        holds[row_id].append(hold_near_duplicate(other_id, similarity))
        if copies is not None:
            copies[row_id] = (other_id, similarity)
    # Attachment rows are written only for the attachments a demonstration declares
    # (`submission_create`): a set declaring none has none to look up.
    declaring = [row.pk for row in rows if isinstance(row.demonstration, dict) and row.demonstration.get("attachments")]
    files = (
        list(Attachment.objects.filter(submission_id__in=declaring).values_list("submission_id", "sha256"))
        if declaring
        else []
    )
    if files:
        # Submissions per file, not files: one submission carrying a file twice is no copy.
        shared = set(
            Attachment.objects.filter(sha256__in={sha for _, sha in files})
            .values("sha256")
            .annotate(n=Count("submission_id", distinct=True))
            .filter(n__gt=1)
            .values_list("sha256", flat=True)
        )
        for submission_id, sha in files:
            if sha in shared and HOLD_DUPLICATE_ATTACHMENT not in holds[submission_id]:
                holds[submission_id].append(HOLD_DUPLICATE_ATTACHMENT)
    return holds


def claim_tasks(rows: list[Submission]) -> dict[int, TaskContext]:
    """{claim id: the task each row is graded against}: the terms frozen on its claim (one
    query for the set), and the server's claim window: claimed at the claim's creation,
    submitted at the submission's server time (never the times the farmer declares). A claim
    without terms (none left after migration 0011; kept as a fallback) is graded against its
    factory as it stands. Claims the caller loaded with the rows (the inline batch joins them)
    are not read again."""
    claims = _loaded_claims(rows)
    if claims is None:
        claims = Claim.objects.only(*CLAIM_FIELDS).in_bulk({row.claim_id for row in rows})
    window = bool(getattr(settings, "FORGE_GRADE_CLAIM_WINDOW", True))
    submitted = {row.claim_id: row.submitted_at for row in rows}
    bare = {claim.factory_id for claim in claims.values() if not claim.terms}
    factories = Factory.objects.only(*TASK_FIELDS).in_bulk(bare) if bare else {}
    tasks: dict[int, TaskContext] = {}
    for claim in claims.values():
        terms = claim.terms
        times = {"claimed_at": claim.created_at, "submitted_at": submitted[claim.pk]} if window else {}
        if terms:
            checks = terms.get("checks")
            tasks[claim.pk] = TaskContext(
                title=terms["title"],
                instructions=terms["instructions"],
                expected_minutes=int(terms["expected_minutes"]),
                checks=checks_from_json(checks) if checks else None,
                references=terms.get("references") or None,
                **times,
            )
        else:
            factory = factories[claim.factory_id]
            tasks[claim.pk] = TaskContext(
                title=factory.title,
                instructions=factory.instructions,
                expected_minutes=factory.expected_minutes,
                **times,
            )
    return tasks


def _loaded_claims(rows: list[Submission]) -> dict[int, Claim] | None:
    """{claim id: claim} if every row came with its claim and the claim's CLAIM_FIELDS."""
    claims = {}
    for row in rows:
        claim = row.claim if Submission.claim.is_cached(row) else None
        if claim is None or claim.get_deferred_fields() & set(CLAIM_FIELDS):
            return None
        claims[claim.pk] = claim
    return claims


def near_duplicates(rows: list[Submission]) -> list[tuple[int, int, float]]:
    """(row id, the earlier submission it nearly copies, similarity) for each row of the set
    that has one: one query for the earlier submissions sharing an LSH key with the set, then
    the pairs that share a key compared exactly on their signatures (read in one more query,
    only when there are pairs). Earlier = a smaller id (the one submitted first keeps its turn).

    The set's own rows are not read back: every row shares its keys with itself, so the
    candidates of a batch of 500 used to be those 500 rows, each with its signature decoded
    (docs/performance.md, benchmark 1). Their keys come with them (`signature__bands`, loaded
    with the rows) or in one query; the lookup returns only other submissions' ids and keys."""
    own = _own_bands(rows)
    keys = {key for bands in own.values() for key in bands}
    if not keys:
        return []
    # Through the GIN index, whatever the planner estimates: a batch's thousands of keys look
    # to it like most of the table (band keys are nearly all distinct, so the statistics know
    # none of them), and it chose a scan of every submission, comparing each row's bands with
    # every key: 6.6 s per batch of 500 at 100,000 submissions, against 0.1 s through the
    # index (docs/performance.md, benchmark 1). No `pk <` condition either: it offered the
    # primary key's index instead; the loop below keeps only earlier submissions.
    with planner_settings(enable_seqscan="off", enable_indexscan="off"):
        candidates = list(
            # The keys as one array parameter, not thousands of placeholders to build and quote.
            SubmissionSignature.objects.filter(bands__overlap=Value(sorted(keys), output_field=BANDS))
            .exclude(submission_id__any_id=list(own))
            .order_by("submission_id")
            .values_list("submission_id", "bands")[:NEAR_DUPLICATE_CANDIDATES]
        )
    candidates.extend(own.items())
    by_key: dict[int, list[int]] = defaultdict(list)
    for pk, bands in candidates:
        for key in bands:
            by_key[key].append(pk)
    pairs: dict[int, set[int]] = {}
    for row_id, bands in own.items():
        earlier = {pk for key in bands for pk in by_key.get(key, ()) if pk < row_id}
        if earlier:
            pairs[row_id] = earlier
    if not pairs:
        return []
    signatures = dict(
        SubmissionSignature.objects.filter(
            submission_id__any_id={pk for row_id, others in pairs.items() for pk in (row_id, *others)}
        ).values_list("submission_id", "signature")
    )
    found = []
    for row_id, others in pairs.items():
        best: tuple[float, int] | None = None
        for pk in others:
            try:
                similarity = signature_similarity(signatures[row_id], signatures[pk])
            except (ValueError, KeyError):  # a signature of another version: not comparable
                continue
            if similarity >= DUPLICATE_SIMILARITY and (best is None or (similarity, -pk) > (best[0], -best[1])):
                best = (similarity, pk)
        if best:
            found.append((row_id, best[1], best[0]))
    return sorted(found)


def _own_bands(rows: list[Submission]) -> dict[int, list[int]]:
    """{row id: its LSH keys} for the rows that have a signature: from the rows where they were
    loaded with it (`select_related("signature")`), the rest in one query."""
    bands: dict[int, list[int]] = {}
    unloaded = []
    for row in rows:
        if not Submission.signature.is_cached(row):
            unloaded.append(row.pk)
            continue
        signature = Submission.signature.related.get_cached_value(row, None)
        if signature is not None and signature.bands:
            bands[row.pk] = signature.bands
    if unloaded:
        bands.update(
            SubmissionSignature.objects.filter(submission_id__any_id=unloaded)
            .exclude(bands=[])
            .values_list("submission_id", "bands")
        )
    return bands


def submissions_grade(rows: list[Submission], *, now) -> Grading:
    """Grade `rows` (with ROW_FIELDS loaded) in memory and apply the holds: sets the score
    fields, `needs_review` and `review_reasons` on each graded instance. No writes."""
    grading = Grading()
    if not rows:
        return grading
    # Time per component, for the metrics endpoint (core/metrics.py, docs/operations.md).
    timings: dict[str, list] = defaultdict(lambda: [0, 0.0])
    started = time.perf_counter()
    copies: dict[int, tuple[int, float]] = {}
    duplicates = duplicate_holds(rows, copies)
    timings["duplicates"][0] += len(rows)
    timings["duplicates"][1] += time.perf_counter() - started
    tasks = claim_tasks(rows)
    threshold = Decimal(str(settings.FORGE_REVIEW_BELOW_CONFIDENCE or 0))
    judging = getattr(settings, "FORGE_GRADER", "") == GRADER_JUDGE
    for row in rows:
        task = tasks[row.claim_id]
        if row.evidence_status == Submission.Evidence.PENDING:
            continue  # its evidence task records the section, then wakes the processor again
        started = time.perf_counter()
        try:
            if row.evidence_status in (Submission.Evidence.EXAMINED, Submission.Evidence.FAILED):
                if judging:  # the model judge also sees the recording's keyframes
                    task = dataclasses.replace(task, keyframes=evidence_keyframes_read(row.evidence))
                result, outcome = grade_with_evidence(row.demonstration, row.evidence, task=task)
            else:
                result, outcome = grade(row.demonstration, task=task), None
        except ManualGradingOnly:  # FORGE_GRADER changed under a running worker: scores come by review
            continue
        except GraderUnavailable as error:
            grading.failed[row.pk] = str(error)[:255]
            timings["failed"][0] += 1
            timings["failed"][1] += time.perf_counter() - started
            continue
        timings[result.grader][0] += 1
        timings[result.grader][1] += time.perf_counter() - started
        holds = list(duplicates.get(row.pk, ()))
        if threshold and result.confidence < threshold:
            holds.append(hold_low_confidence(result.confidence, threshold))
        holds.extend(str(reason) for reason in getattr(result, "hold_reasons", ()) or ())
        if outcome is not None:
            holds.extend(outcome.holds)
        row.quality_score = result.score if outcome is None else outcome.score
        row.score_confidence = result.confidence
        breakdown = result.breakdown if outcome is None else outcome.breakdown
        if row.pk in copies:
            breakdown = {**breakdown, NEAR_DUPLICATE_PART: near_duplicate_part(*copies[row.pk])}
        row.score_breakdown = breakdown
        row.score_reasons = result.reasons if outcome is None else outcome.reasons
        row.graded_by = result.grader
        row.rubric_version = getattr(result, "rubric_version", None)
        row.scored_at = now
        row.scoring_error = ""  # an earlier failure's message no longer applies
        row.next_attempt_at = None
        row.needs_review = bool(holds)
        row.review_reasons = holds
        (grading.held if holds else grading.scored).append(row)
    grading_time_add({component: (count, seconds) for component, (count, seconds) in timings.items()})
    return grading


def submissions_score(submission_ids: list[int]) -> list[int]:
    """Grade every unscored, unheld submission among `submission_ids` once, outside any long
    transaction (a grader may call out), then write the scores in one short one; returns the
    ids ready to settle. Idempotent: a row scored or reviewed meanwhile keeps its score
    (compare-and-swap under the row lock)."""
    rows = list(
        Submission.objects.filter(
            pk__in=submission_ids,
            quality_score__isnull=True,
            needs_review=False,
            status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING],
        ).only(*ROW_FIELDS)
    )
    if not rows:
        return []
    now = timezone.now()
    grading = submissions_grade(rows, now=now)
    with transaction.atomic():
        still_open = set(
            submissions_lock([row.pk for row in grading.graded], quality_score__isnull=True).values_list(
                "pk", flat=True
            )
        )
        graded = [row for row in grading.graded if row.pk in still_open]
        for row in graded:
            row.status = Submission.Status.SCORING
        bulk_update_values(Submission, graded, [*SCORE_FIELDS, "status"])
        submissions_notify_held([row for row in graded if row.needs_review])
        if grading.failed:
            grader_failures_back_off(grading.failed, now)
    return [row.pk for row in grading.scored if row.pk in still_open]


def grader_failures_back_off(failed: dict[int, str], now) -> None:
    """The grader could not answer: wait (exponential backoff) and try again; after
    MAX_SCORING_ATTEMPTS, hold for staff review instead of retrying forever."""
    rows = list(
        Submission.objects.filter(pk__in=list(failed), quality_score__isnull=True).only(
            "pk", "farmer_id", "scoring_attempts"
        )
    )
    for row in rows:
        row.scoring_attempts += 1
        row.scoring_error = failed[row.pk]
        row.status = Submission.Status.SUBMITTED
        row.next_attempt_at = now + timedelta(seconds=min(5 * 2**row.scoring_attempts, 3600))
        row.needs_review = row.scoring_attempts >= MAX_SCORING_ATTEMPTS
        row.review_reasons = [hold_grader_failed(row.scoring_attempts, failed[row.pk])] if row.needs_review else []
    bulk_update_values(
        Submission,
        rows,
        ["scoring_attempts", "scoring_error", "status", "next_attempt_at", "needs_review", "review_reasons"],
    )
    submissions_notify_held([row for row in rows if row.needs_review])
