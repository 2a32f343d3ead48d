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

`submissions_evidence_overdue` names the rows whose evidence task was lost, for the evidence
app's sweeper.
"""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from core.exceptions import ApplicationError

from ..locks import submission_lock
from ..models import Submission
from .submissions import processing_wake_up


@transaction.atomic
def submission_evidence_record(*, submission_id: int, evidence: dict) -> bool:
    """Store the evidence section of a pending submission and queue its scoring (after commit).
    Returns False, changing nothing, when the row is not pending (already recorded, scored or
    reviewed meanwhile): the evidence task may be delivered twice."""
    if not isinstance(evidence, dict) or not isinstance(evidence.get("checks"), list):
        raise ApplicationError("The evidence section must be an object with a list of checks.", field="evidence")
    submission = submission_lock(submission_id)
    if submission is None or submission.evidence_status != Submission.Evidence.PENDING:
        return False
    if submission.quality_score is not None:
        return False
    submission.evidence = evidence
    submission.evidence_status = Submission.Evidence.EXAMINED
    submission.save(update_fields=["evidence", "evidence_status"])
    processing_wake_up()
    return True


def submissions_evidence_overdue(*, older_than_seconds: int, limit: int = 500) -> list[int]:
    """Ids of submissions still waiting for evidence `older_than_seconds` after submission
    (their evidence task was lost: a broker outage, a killed worker), oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        Submission.objects.filter(
            evidence_status=Submission.Evidence.PENDING,
            quality_score__isnull=True,
            submitted_at__lte=cutoff,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
