"""Farmer-side set-up through the real services: claim, submit, score exactly, settle."""

from __future__ import annotations

from pools.models import Factory, Submission
from pools.services.claims import claim_create
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from tests.factories import StaffFactory, demonstration


def submit(factory: Factory, farmer) -> Submission:
    """Claim and submit. In a `db` test the after-commit scoring task never fires, so the
    submission waits in `submitted` for the test to score it."""
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())


def settle_submission(submission: Submission, score: str) -> Submission:
    """Score a submission exactly `score` as a reviewer does, and settle it."""
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)
    return submission_settle(submission_id=submission.pk)


def settle(factory: Factory, farmer, score: str) -> Submission:
    """Claim, submit, score exactly `score` and settle."""
    return settle_submission(submit(factory, farmer), score)
