"""Cheating signals: replayed action sequences, re-used recordings and impossibly fast work are
held for staff review (needs_review) instead of being paid automatically."""

from __future__ import annotations

import copy
import hashlib

import pytest

from ledger.models import Account
from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.integrity import sequence_fingerprint
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from pools.tasks import submissions_sweep_task
from tests.factories import FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.20", deposit="2", expected_minutes=10)


@pytest.fixture
def submit(factory, django_capture_on_commit_callbacks):
    """Submit as a new farmer; the scoring task runs (eagerly) after commit."""

    def _submit(demo: dict) -> Submission:
        farmer = FarmerFactory()
        claim = claim_create(factory=factory, farmer=farmer)
        with django_capture_on_commit_callbacks(execute=True):
            submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)
        submission.refresh_from_db()
        return submission

    return _submit


def paid(submission: Submission) -> int:
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{submission.farmer_id}").first()
    return account.balance if account else 0


def assert_held(submission: Submission, reason: str) -> None:
    assert submission.needs_review is True
    assert submission.status == Submission.Status.SCORING
    assert submission.quality_score is not None  # scored, but not trusted with money
    assert submission.settlement_transaction_id is None
    assert paid(submission) == 0
    assert any(reason in text for text in submission.review_reasons), submission.review_reasons


def attachment(content: bytes, name: str = "recording.webm") -> dict:
    return {
        "name": name,
        "content_type": "video/webm",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }


def test_an_ordinary_demonstration_is_not_flagged_and_is_settled(submit):
    submission = submit(demonstration())

    assert submission.needs_review is False
    assert submission.review_reasons == []
    assert submission.is_final


def test_a_replayed_sequence_of_actions_is_held(submit):
    original = submit(demonstration(variant=4242))
    assert original.is_final

    replay = submit(demonstration(variant=4242))

    assert_held(replay, "same sequence of actions")


def test_a_replay_with_other_timings_and_letter_case_is_still_the_same_sequence(submit):
    original = demonstration(variant=77)
    disguised = copy.deepcopy(original)
    for index, step in enumerate(disguised["steps"]):
        step["t"] = index * 30
        step["target"] = f"  {step['target'].upper()} "
    assert sequence_fingerprint(disguised) == sequence_fingerprint(original)
    submit(original)

    assert_held(submit(disguised), "same sequence of actions")


def test_a_recording_already_submitted_by_someone_else_is_held(submit):
    recording = attachment(b"the same screen recording")
    first = submit({**demonstration(), "attachments": [recording]})
    assert first.needs_review is False

    second = submit({**demonstration(), "attachments": [attachment(b"another one", name="intro.webm"), recording]})

    assert_held(second, "attachment identical")


def test_a_humanly_impossible_demonstration_is_refused(submit):
    """Issue 16, point 6 (a behaviour change): 30 s for a 10-minute task used to be held by a
    fixed 10 % rule; now the grader judges speed, and refuses what no person could do."""
    submission = submit(demonstration(minutes=0.01))  # ten actions in 0.6 s

    assert submission.status == Submission.Status.REJECTED
    assert "impossible_speed" in submission.score_breakdown["gate"]["flags"]
    assert paid(submission) == 0


def test_a_fast_but_human_demonstration_is_not_held(submit):
    submission = submit(demonstration(minutes=0.5))  # 30 s for a 10-minute task

    assert submission.needs_review is False
    assert submission.status == Submission.Status.SETTLED


def test_a_quick_but_plausible_demonstration_is_not_held(submit):
    submission = submit(demonstration(minutes=2))  # a fifth of the expected time

    assert submission.needs_review is False


def test_held_work_is_left_alone_by_the_sweeper_and_paid_only_after_review(settings, submit):
    settings.FORGE_SWEEP_AFTER_SECONDS = 0
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 1.01  # held: low confidence
    submission = submit(demonstration())
    assert submission.needs_review
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 0

    assert submissions_sweep_task.apply().get() == 0
    assert paid(submission) == 0

    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.8", reason="Checked")
    settled = submission_settle(submission_id=submission.pk)
    assert (settled.status, settled.needs_review) == ("settled", False)
    assert paid(settled) == 144_000  # 0.20 x 0.8 = 0.16, less the 10% fee
    assert_audit_clean()
