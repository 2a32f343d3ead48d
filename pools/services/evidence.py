"""A submission's screen-recording evidence, as pools sees it (issue 17).

The evidence app (above pools: pools never imports it) examines a recording in a worker and
hands back the evidence section as plain values. The row's `evidence_status` is the durable
intent, so nothing is scored before its evidence is in:

- `submission_create(..., has_recording=True)` (the evidence app's `recording_attach`, in the
  transaction that stores the recording) inserts the row "pending": the batch processor passes
  pending rows over.
- `submission_evidence_record`: the section is in; store it, mark the row "examined" and wake the
  batch processor, which grades it by the evidence rule (`pools/grading/evidence.py`).
  Idempotent: a second delivery of the same task changes nothing.

The keyframe thumbnails the section names (`judge_keyframes`) are read for the model judge by
`pools.selectors.evidence_keyframes_read`.

`submissions_evidence_overdue` names the rows whose evidence task was lost, and
`submissions_evidence_sweep` counts each sending again (`evidence_sweeps`) for the evidence
app's sweeper: a row sent `max_attempts` times is given up on, and the evidence app records it
"failed" with a no-video section naming why (`submission_evidence_record(..., failed=True)`),
which scoring holds for staff review.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.exceptions import ApplicationError

from ..locks import submission_lock
from ..models import Submission
from .submissions import processing_wake_up


@transaction.atomic
def submission_evidence_record(*, submission_id: int, evidence: dict, failed: bool = False) -> bool:
    """Store the evidence section of a pending submission and queue its scoring (after commit).
    Returns False, changing nothing, when the row is not pending (already recorded, scored or
    reviewed meanwhile): the evidence task may be delivered twice. `failed`: the examination was
    given up on (the section says why); the row is marked "failed" instead of "examined"."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("checks"), list):
        raise ApplicationError("The evidence section must be an object with a list of checks.", field="evidence")
    submission = submission_lock(submission_id)
    if submission is None or submission.evidence_status != Submission.Evidence.PENDING:
        return False
    if submission.quality_score is not None:
        return False
    submission.evidence = evidence
    submission.evidence_status = Submission.Evidence.FAILED if failed else Submission.Evidence.EXAMINED
    submission.save(update_fields=["evidence", "evidence_status"])
    processing_wake_up()
    return True


def submissions_evidence_overdue(*, older_than_seconds: int, limit: int = 500) -> list[int]:
    """Ids of submissions still waiting for evidence `older_than_seconds` after submission and
    after the sweeper last sent their task again (their evidence task was lost: a broker outage,
    a killed worker, a storage that does not answer), oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Submission.objects.filter(
            Q(evidence_swept_at__isnull=True) | Q(evidence_swept_at__lte=cutoff),
            evidence_status=Submission.Evidence.PENDING,
            quality_score__isnull=True,
            submitted_at__lte=cutoff,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def submissions_evidence_sweep(
    *, older_than_seconds: int, max_attempts: int, limit: int = 500
) -> tuple[list[int], list[int]]:
    """The overdue rows (`submissions_evidence_overdue`), split: (to send again, each one's
    `evidence_sweeps` counted; given up: already sent again `max_attempts` times). Rows locked by
    another transaction (their evidence is being recorded) are left to the next sweep."""
    overdue = submissions_evidence_overdue(older_than_seconds=older_than_seconds, limit=limit)
    rows = (
        Submission.objects.filter(pk__in=overdue, evidence_status=Submission.Evidence.PENDING)
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
        .values_list("pk", "evidence_sweeps")
    )
    resend, exhausted = [], []
    for pk, sweeps in rows:
        (resend if sweeps < max_attempts else exhausted).append(pk)
    if resend:
        Submission.objects.filter(pk__in=resend).update(
            evidence_sweeps=F("evidence_sweeps") + 1, evidence_swept_at=timezone.now()
        )
    return resend, exhausted
