"""A submission with a screen recording is scored only once its evidence is in, and every
scoring path (batch inline, take-then-score, one submission) applies the evidence rule
(pools/grading/evidence.py) the same way: unsupported claims count for nothing, forged-looking
evidence holds with a reason naming each check; a review waits for the evidence too."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.exceptions import ApplicationError, Conflict
from pools.grading.evidence import NOT_PAID_UNSUPPORTED
from pools.models import Submission
from pools.services.batch import pending_exists, process_batch, settle_batch, take_batch
from pools.services.claims import claim_create
from pools.services.evidence import (
    submission_evidence_record,
    submissions_evidence_overdue,
)
from pools.services.scoring import submissions_score
from pools.services.submissions import submission_create, submission_review, submission_score
from tests.factories import FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def batch_inline(submission: Submission) -> None:
    process_batch(limit=100)


def take_score_settle(submission: Submission) -> None:
    ready = submissions_score(take_batch(limit=100))
    if ready:
        settle_batch(ready)


def one_submission(submission: Submission) -> None:
    submission_score(submission_id=submission.pk)
    settle_batch([submission.pk])


PATHS = [batch_inline, take_score_settle, one_submission]

CHECKS = (
    "video_changes",
    "duration_matches",
    "events_match_video",
    "final_state",
    "success_checks",
    "typed_text",
    "clicks",
)
SUSPICIOUS = ("video_changes", "duration_matches", "events_match_video", "frames_reused")


def section(**results: str) -> dict:
    """An evidence section in evidence/checks.py's shape: every check passes unless told."""
    outcome = {name: results.get(name, "pass") for name in (*CHECKS, *results)}
    failed = {name for name, result in outcome.items() if result == "fail"}
    checks = [
        {
            "name": name,
            "result": result,
            "weight": "0.1",
            "reason": f"{name} said {result}",
            "keyframe": {"index": 0, "t": "1.000", "dhash": "00ff00ff00ff00ff"},
            "keyframes": [],
            "details": {},
        }
        for name, result in outcome.items()
    ]
    unsupported = sorted(failed & {"final_state", "success_checks", "typed_text"})
    hold = bool(failed & set(SUSPICIOUS))
    return {
        "version": 1,
        "verdict": "suspicious" if hold else "unsupported" if unsupported else "supported",
        "hold": hold,
        "hold_checks": list(SUSPICIOUS),
        "confidence": "0.8000",
        "unsupported_claims": unsupported,
        "reasons": [check["reason"] for check in checks if check["result"] == "fail"],
        "checks": checks,
    }


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)


def submit_recorded(factory) -> Submission:
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration(), has_recording=True)


def test_a_recorded_submission_waits_for_its_evidence(factory):
    submission = submit_recorded(factory)

    assert not pending_exists()
    assert process_batch(limit=100) == 0
    submission.refresh_from_db()
    assert submission.quality_score is None and submission.status == "submitted"
    assert submission.evidence_status == "pending"


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.__name__)
def test_supported_evidence_is_paid_with_each_check_in_the_breakdown(factory, path):
    submission = submit_recorded(factory)
    assert submission_evidence_record(submission_id=submission.pk, evidence=section())

    path(submission)
    submission.refresh_from_db()
    assert submission.status == "settled" and submission.quality_score >= Decimal("0.5")
    evidence = submission.score_breakdown["evidence"]
    assert [check["name"] for check in evidence["checks"]] == list(CHECKS)
    assert submission.score_breakdown["evidence_rule"]["score_before_evidence"] == str(submission.quality_score)
    assert_audit_clean()


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.__name__)
def test_an_unsupported_claim_counts_for_nothing_on_every_path(factory, path):
    submission = submit_recorded(factory)
    submission_evidence_record(submission_id=submission.pk, evidence=section(final_state="fail"))

    path(submission)
    submission.refresh_from_db()
    assert submission.quality_score == 0 and submission.status == "rejected"
    assert submission.farmer_reward == 0
    rule = submission.score_breakdown["evidence_rule"]
    assert rule["unsupported_claims"] == ["final_state"] and Decimal(rule["score_before_evidence"]) > 0
    assert any(reason.startswith(NOT_PAID_UNSUPPORTED) for reason in submission.score_reasons)
    assert "Evidence check final_state: final_state said fail" in submission.score_reasons
    assert_audit_clean()


@pytest.mark.parametrize("path", PATHS, ids=lambda path: path.__name__)
def test_forged_looking_evidence_holds_with_a_reason_per_check(factory, path):
    submission = submit_recorded(factory)
    submission_evidence_record(
        submission_id=submission.pk, evidence=section(video_changes="fail", frames_reused="fail")
    )

    path(submission)
    submission.refresh_from_db()
    assert submission.needs_review and submission.status == "scoring"
    assert submission.review_reasons == [
        "Evidence check video_changes: video_changes said fail",
        "Evidence check frames_reused: frames_reused said fail",
    ]
    assert submission.settlement_transaction_id is None


def test_missing_evidence_holds(factory):
    submission = submit_recorded(factory)
    evidence = {**section(), "verdict": "no_video", "hold": True, "reasons": ["No video in the archive."]}
    evidence["checks"] = [{**check, "result": "skipped"} for check in evidence["checks"]]
    submission_evidence_record(submission_id=submission.pk, evidence=evidence)

    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.needs_review and submission.review_reasons == ["Evidence: No video in the archive."]


def test_recording_the_evidence_twice_changes_nothing(factory, django_capture_on_commit_callbacks):
    submission = submit_recorded(factory)
    with django_capture_on_commit_callbacks() as callbacks:
        assert submission_evidence_record(submission_id=submission.pk, evidence=section())
    assert len(callbacks) == 1  # the batch processor is woken up
    with django_capture_on_commit_callbacks() as callbacks:
        assert not submission_evidence_record(submission_id=submission.pk, evidence=section(final_state="fail"))
    assert callbacks == []
    submission.refresh_from_db()
    assert submission.evidence["unsupported_claims"] == []


@pytest.mark.parametrize("bad", [None, [], {"checks": "all good"}, {"verdict": "supported"}])
def test_a_malformed_section_is_refused_and_changes_nothing(factory, bad):
    submission = submit_recorded(factory)
    with pytest.raises(ApplicationError):
        submission_evidence_record(submission_id=submission.pk, evidence=bad)
    submission.refresh_from_db()
    assert submission.evidence_status == "pending" and submission.evidence == {}


def test_a_review_waits_for_the_evidence(factory):
    submission = submit_recorded(factory)
    with pytest.raises(Conflict, match="still being examined"):
        submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    submission.refresh_from_db()
    assert submission.quality_score is None


def test_a_submission_without_a_recording_is_scored_as_before(factory):
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.evidence_status == "" and submission.status == "settled"
    assert "evidence" not in submission.score_breakdown
    assert not submission_evidence_record(submission_id=submission.pk, evidence=section())


def test_overdue_evidence_is_listed_for_the_sweeper(factory):
    submission = submit_recorded(factory)
    assert submissions_evidence_overdue(older_than_seconds=3600) == []
    assert submissions_evidence_overdue(older_than_seconds=0) == [submission.pk]
    submission_evidence_record(submission_id=submission.pk, evidence=section())
    assert submissions_evidence_overdue(older_than_seconds=0) == []
