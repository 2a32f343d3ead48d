"""Demonstrations: submit (durable intent to score), score one now (a batch of one through
`services/scoring.py`, the one scoring service), and staff/grading-service review.

The status column is the durable record of what is left to do: `submitted` needs scoring,
`scoring` with a score and no review hold needs settling. The sweeper (tasks.py) re-enqueues
anything left behind by a broker outage or a lost worker.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from decimal import Decimal
from functools import cache as cache_once

from django.db import connection, transaction
from django.utils import timezone

from audit.models import StaffAction
from audit.services import staff_action_record
from core.db import atomic_with_retry
from core.exceptions import ApplicationError, Conflict, Forbidden, NotFound
from core.money import parse_rate
from core.queue import queue_on_commit, wake_up_on_commit
from ledger.models import Token

from ..demonstrations import demonstration_validate
from ..locks import submission_lock
from ..models import Attachment, Claim, Factory, ScoreOverride, Submission, SubmissionSignature
from .integrity import sequence_fingerprint, signature_bands, similarity_signature
from .scoring import submissions_score

logger = logging.getLogger(__name__)

SIGNATURE_FIELD = SubmissionSignature._meta.get_field("signature")


# At most one wake-up message per this many seconds: the batch processor drains everything
# waiting, so one message serves every submission of the window (see services/batch.py).
WAKE_UP_COALESCE_SECONDS = 1
WAKE_UP_KEY = "pools:process-pending:wake-up"


# The evidence policy's refusal (Factory.requires_recording, frozen on the claim's terms).
RECORDING_REQUIRED_MESSAGE = (
    "This task requires a screen recording: submit the desktop recorder's archive (a zip with meta.json, "
    "input_log.jsonl and recording.mp4) instead of a JSON demonstration."
)


def processing_wake_up() -> None:
    """After commit, make sure a batch processor will look at waiting submissions."""
    wake_up_on_commit("pools.submissions_process_pending", key=WAKE_UP_KEY, window_seconds=WAKE_UP_COALESCE_SECONDS)


def _enqueue_settle(submission_id: int) -> None:
    queue_on_commit("pools.submission_settle", submission_id)


def submission_create(*, claim_id: int, farmer, demonstration, has_recording: bool = False) -> Submission:
    """Accept a demonstration for an open claim; scoring starts after commit.

    Validation comes first and writes nothing. Then the claim is closed and the submission
    inserted, with its near-duplicate signature, in one statement (`_claim_submit_sql`: the conditional UPDATE of the
    claim row is the lock, so of two concurrent submissions for one claim exactly one matches;
    the other waits for the row, sees it `submitted`, and is refused). The Submission returned
    is the row as written, with its claim and its factory's token loaded (what the API answers
    with), without reading it back.

    `has_recording`: a screen recording comes with it (the evidence app's `recording_attach`
    stores it in the same transaction; pools only keeps the flag); the row then waits, unscored,
    for the recording's evidence (`evidence_status` "pending", pools/services/evidence.py).
    """
    cleaned = demonstration_validate(demonstration)
    now = timezone.now()
    signature = similarity_signature(cleaned)
    submission = Submission(
        demonstration=cleaned,
        sequence_fingerprint=sequence_fingerprint(cleaned),
        submitted_at=now,
        has_recording=has_recording,
        # Not scored before the evidence app hands back the recording's evidence
        # (pools/services/evidence.py; the batch processor passes pending rows over).
        evidence_status=Submission.Evidence.PENDING if has_recording else Submission.Evidence.NONE,
    )
    declared = cleaned.get("attachments") or []
    # One statement commits on its own; attachments need a transaction with it.
    with transaction.atomic() if declared else nullcontext():
        _claim_submit_sql(submission, signature, claim_id=claim_id, farmer=farmer, now=now)
        if declared:
            Attachment.objects.bulk_create(
                Attachment(
                    submission=submission,
                    name=item["name"],
                    content_type=item["content_type"],
                    size=item["size"],
                    sha256=item["sha256"],
                )
                for item in declared
            )
        processing_wake_up()
    # With the request id (core/observability.py): where a submission's trail starts.
    logger.info("submission %s accepted for claim %s", submission.pk, claim_id)
    return submission


def _claim_refusal(claim: Claim | None, *, farmer, now) -> ApplicationError:
    """Why `claim` cannot take a submission from `farmer` (checked in this order)."""
    if claim is None or (claim.farmer_id != farmer.pk and not farmer.is_staff):
        # Someone else's claim is indistinguishable from a missing one.
        return NotFound("No such claim.")
    if claim.status == Claim.Status.SUBMITTED:
        return Conflict("This claim already has a submission.")
    if claim.status == Claim.Status.EXPIRED or claim.expires_at <= now:
        return Conflict("This claim has expired; its reward went back to the pool.")
    if (claim.terms or {}).get("requires_recording"):
        return ApplicationError(RECORDING_REQUIRED_MESSAGE, field="demonstration")
    # Unreachable while a claim never goes back to open: the statement found nothing to close.
    return Conflict("This claim cannot take a submission now; try again.")


def _insert_fields() -> list:
    """Every submission column but the id and the three taken from the claim, in model order."""
    from_claim = {"claim_id", "factory_id", "farmer_id"}
    return [f for f in Submission._meta.concrete_fields if not f.primary_key and f.attname not in from_claim]


@cache_once
def _claim_submit_statement() -> str:
    """The statement of `_claim_submit_sql`, built once from the models' metadata.

    The UPDATE is the claim's row lock and its check in one: it closes the claim only if it is
    open, unexpired and the caller's (or the caller is staff), and comes with a recording when
    its terms require one (the factory's evidence policy, frozen at claim). A concurrent submission or
    `claim_expire` (which locks the factory FOR NO KEY UPDATE, then this row, and checks the
    status again under the lock) waits for the row and then finds it closed, so one claim is
    never closed twice. The INSERT takes its rows from the UPDATE's: no open claim, no
    submission; its foreign key check takes a KEY SHARE lock on the factory, which only a FOR
    UPDATE lock on the factory (none of the claim paths take one) makes it wait for. The
    signature's row is inserted from the submission's (PostgreSQL runs every data-modifying
    part of a WITH, whether the final SELECT reads it or not).
    """
    quote = connection.ops.quote_name
    fields = _insert_fields()
    claim_columns = [quote(f.column) for f in Claim._meta.concrete_fields]
    return f"""
        WITH closed AS (
            UPDATE {quote(Claim._meta.db_table)} SET status = %s, closed_at = %s
            WHERE id = %s AND status = %s AND expires_at > %s AND (farmer_id = %s OR %s)
                AND (%s OR NOT COALESCE((terms ->> 'requires_recording')::boolean, false))
            RETURNING {", ".join(claim_columns)}
        ), made AS (
            INSERT INTO {quote(Submission._meta.db_table)}
                (claim_id, factory_id, farmer_id, {", ".join(quote(f.column) for f in fields)})
            SELECT id, factory_id, farmer_id, {", ".join(f"%s::{f.db_type(connection)}" for f in fields)}
            FROM closed
            RETURNING id
        ), signed AS (
            INSERT INTO {quote(SubmissionSignature._meta.db_table)} (submission_id, signature, bands)
            SELECT id, %s::jsonb, %s::bigint[] FROM made
        )
        SELECT made.id, {", ".join(f"closed.{c}" for c in claim_columns)},
            {", ".join(f"t.{quote(f.column)}" for f in Token._meta.concrete_fields)}
        FROM made CROSS JOIN closed
        JOIN {quote(Factory._meta.db_table)} f ON f.id = closed.factory_id
        JOIN {quote(Token._meta.db_table)} t ON t.id = f.token_id
    """  # noqa: S608 - identifiers from the models' metadata, values as parameters


def _converted(fields, values) -> list:
    """Raw column values as the ORM would load them (a JSON column arrives as text)."""
    return [
        field.from_db_value(value, None, connection) if hasattr(field, "from_db_value") else value
        for field, value in zip(fields, values, strict=True)
    ]


def _claim_submit_sql(submission: Submission, signature: dict, *, claim_id: int, farmer, now) -> None:
    """Close the open claim and insert `submission` for it, with its similarity `signature`
    and the signature's LSH keys, in one statement (PostgreSQL)."""
    low, high = connection.ops.integer_field_range(Claim._meta.pk.get_internal_type())
    if not low <= claim_id <= high:  # an id past 64 bits names no claim
        raise NotFound("No such claim.")
    fields = _insert_fields()
    values = [field.get_db_prep_save(field.pre_save(submission, True), connection) for field in fields]
    params = [
        Claim.Status.SUBMITTED,
        now,
        claim_id,
        Claim.Status.OPEN,
        now,
        farmer.pk,
        bool(farmer.is_staff),
        bool(submission.has_recording),
        *values,
        SIGNATURE_FIELD.get_db_prep_save(signature, connection),
        signature_bands(signature),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_claim_submit_statement(), params)
        row = cursor.fetchone()
    if row is None:  # nothing written: say why
        claim = Claim.objects.filter(pk=claim_id).only("farmer_id", "status", "expires_at", "terms").first()
        raise _claim_refusal(claim, farmer=farmer, now=now)
    claim_fields = Claim._meta.concrete_fields
    db = connection.alias
    submission.pk = row[0]
    claim = Claim.from_db(
        db, [f.attname for f in claim_fields], _converted(claim_fields, row[1 : 1 + len(claim_fields)])
    )
    token_fields = Token._meta.concrete_fields
    token = Token.from_db(db, [f.attname for f in token_fields], _converted(token_fields, row[1 + len(claim_fields) :]))
    # The factory as far as the answer needs it; any other field is loaded on access.
    factory = Factory.from_db(db, ["id", "token_id"], [claim.factory_id, token.pk])
    factory.token = token
    claim.factory = factory
    submission.claim = claim
    submission.factory = factory
    submission.farmer_id = claim.farmer_id
    submission._state.adding = False
    submission._state.db = db


def submission_score(*, submission_id: int) -> Submission:
    """Score one submission now: a batch of one through the scoring service
    (`services/scoring.py`), with the holds and messages of every other path. A submission
    already scored, held or final is returned as it is; a grader failure backs it off for
    the batch processor to try again."""
    submissions_score([submission_id])
    return Submission.objects.get(pk=submission_id)


@atomic_with_retry
def submission_review(*, submission_id: int, reviewer, quality_score, reason: str = "") -> Submission:
    """A score from staff or the grading service. Before settlement it becomes the score and
    the submission settles (after commit); after settlement an adjusting transaction moves the
    difference (history is never edited)."""
    if not (reviewer.is_staff or reviewer.role == "grader"):
        raise Forbidden("Only staff or the grading service can review scores.")
    score = parse_rate(quality_score, field="quality_score")
    submission = submission_lock(submission_id)
    if submission is None:
        raise NotFound("No such submission.")
    if submission.evidence_status == Submission.Evidence.PENDING:
        # Every path scores with the evidence in (pools/grading/evidence.py), reviews included.
        raise Conflict("The recording's evidence is still being examined; review it once it is in.")
    override = ScoreOverride.objects.create(
        submission=submission,
        old_score=submission.quality_score,
        new_score=score,
        reason=(reason or "")[:500],
        reviewed_by=reviewer,
    )
    before = _review_state(submission)
    if submission.is_final:
        from .settlement import settlement_adjust

        submission = settlement_adjust(submission=submission, override=override)
        _review_record(reviewer, submission, override, before)
        return submission

    submission.quality_score = score
    submission.score_confidence = Decimal(1)
    submission.graded_by = "manual"
    submission.rubric_version = None  # a reviewer's score, no agent's
    submission.scored_at = timezone.now()
    submission.needs_review = False
    submission.status = Submission.Status.SCORING
    submission.save(
        update_fields=[
            "quality_score",
            "score_confidence",
            "graded_by",
            "rubric_version",
            "scored_at",
            "needs_review",
            "status",
        ]
    )
    _review_record(reviewer, submission, override, before)
    _enqueue_settle(submission.pk)
    return submission


def _review_state(submission: Submission) -> dict:
    return {
        "status": submission.status,
        "quality_score": submission.quality_score,
        "needs_review": submission.needs_review,
        "farmer_reward": submission.farmer_reward,  # base units of the factory's token
    }


def _review_record(reviewer, submission: Submission, override: ScoreOverride, before: dict) -> None:
    """Staff reviews go to the staff audit trail (the grading service's are in ScoreOverride)."""
    if reviewer.is_staff:
        staff_action_record(
            actor=reviewer,
            action=StaffAction.Action.SCORE_OVERRIDE,
            obj=submission,
            before=before,
            after=_review_state(submission) | {"score_override": override.pk},
            reason=override.reason,
        )
