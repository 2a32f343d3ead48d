"""One scoring service (pools/services/scoring.py): the batch processor (rules grader, inline),
the take-then-score path of a grader that calls out, and one submission scored on its own hold
the same submission for the same reason with the same message, and pay none of them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ledger.models import Transaction
from pools.models import Submission
from pools.services import scoring
from pools.services.batch import process_batch, take_batch
from pools.services.claims import claim_create
from pools.services.scoring import (
    HOLD_DUPLICATE_ATTACHMENT,
    hold_low_confidence,
    hold_near_duplicate,
    submissions_score,
)
from pools.services.submissions import submission_create, submission_score
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.pools.demonstrations import ending_now, recording_data

pytestmark = pytest.mark.django_db


def batch_inline(submission: Submission) -> None:
    process_batch(limit=100)


def take_then_score(submission: Submission) -> None:
    submissions_score(take_batch(limit=100))


def one_submission(submission: Submission) -> None:
    submission_score(submission_id=submission.pk)


PATHS = [batch_inline, take_then_score, one_submission]


def submit(factory, demo: dict) -> Submission:
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)


def attachment(sha: str) -> dict:
    return {"name": "screen.webm", "content_type": "video/webm", "size": 1000, "sha256": sha}


def duplicate_sequence(creator, settings, monkeypatch):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    demo = demonstration()
    original = submit(factory, demo)
    copy = submit(factory, {**demo, "final_state": demo["final_state"] + " again"})
    return copy, [hold_near_duplicate(original.pk, 1.0)]


def duplicate_attachment(creator, settings, monkeypatch):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    submit(factory, {**demonstration(), "attachments": [attachment("ab" * 32)]})
    copy = submit(factory, {**demonstration(), "attachments": [attachment("ab" * 32)]})
    return copy, [HOLD_DUPLICATE_ATTACHMENT]


def low_confidence(creator, settings, monkeypatch):
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 1.01  # above any confidence
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    submission = submit(factory, demonstration())
    confidence = scoring.grade(submission.demonstration, task=_task(factory)).confidence
    assert confidence < scoring.Decimal("1.01")
    return submission, [hold_low_confidence(confidence, scoring.Decimal("1.01"))]


def grader_hold(creator, settings, monkeypatch):
    real_grade = scoring.grade

    def grade_with_a_hold(demo, *, task):
        result = real_grade(demo, task=task)
        return replace(result, hold_reasons=("The grader flags a scripted recording.",))

    monkeypatch.setattr(scoring, "grade", grade_with_a_hold)
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    return submit(factory, demonstration()), ["The grader flags a scripted recording."]


def everything_at_once(creator, settings, monkeypatch):
    """Several holds: one message each, always in the documented order."""
    settings.FORGE_REVIEW_BELOW_CONFIDENCE = 1.01  # above any confidence
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=60)
    demo = {**demonstration(minutes=2), "attachments": [attachment("cd" * 32)]}
    original = submit(factory, demo)
    copy = submit(factory, {**demo, "final_state": "again"})
    confidence = scoring.grade(copy.demonstration, task=_task(factory)).confidence
    return copy, [
        hold_near_duplicate(original.pk, 1.0),
        HOLD_DUPLICATE_ATTACHMENT,
        hold_low_confidence(confidence, scoring.Decimal("1.01")),
    ]


def _task(factory):
    return scoring.TaskContext(
        title=factory.title, instructions=factory.instructions, expected_minutes=factory.expected_minutes
    )


@pytest.mark.parametrize(
    "scenario", [duplicate_sequence, duplicate_attachment, low_confidence, grader_hold, everything_at_once]
)
@pytest.mark.parametrize("path", PATHS)
def test_every_path_holds_the_same_submission_with_the_same_messages(path, scenario, creator, settings, monkeypatch):
    settings.FORGE_GRADER = "rules"
    submission, expected = scenario(creator, settings, monkeypatch)

    path(submission)

    submission.refresh_from_db()
    assert submission.quality_score is not None  # scored, but not trusted with money
    assert submission.needs_review is True
    assert submission.review_reasons == expected
    assert submission.status == Submission.Status.SCORING
    assert not Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").exists()
    assert_audit_clean()


@pytest.mark.parametrize("path", PATHS)
def test_every_path_scores_and_lets_clean_work_through(path, creator, settings):
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    submission = submit(factory, demonstration())

    path(submission)

    submission.refresh_from_db()
    assert submission.quality_score is not None
    assert (submission.needs_review, submission.review_reasons) == (False, [])


def one_click() -> dict:
    """One click in 3 s, recorded just now (inside the claim)."""
    return {
        **recording_data(
            [{"t": 1.5, "action": "click", "target": 'button "Budget sheet"'}],
            seconds=3,
            final_state="The budget sheet is open.",
            start=ending_now(3),
        ),
        "notes": "",
    }


@pytest.mark.parametrize("path", PATHS)
def test_every_path_pays_quick_honest_work(path, creator, settings):
    """Issue 16, point 6 (a behaviour change): a one-click task done in 3 s is genuine. The old
    fixed hold (under 10 % of the expected minutes) held it on every path; speed is now the
    grader's to judge against the task."""
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(
        creator,
        reward="0.2",
        deposit="2",
        expected_minutes=5,
        title="Open the budget sheet",
        instructions='Click the "Budget sheet" button.',
    )
    submission = submit(factory, one_click())

    path(submission)

    submission.refresh_from_db()
    assert (submission.needs_review, submission.review_reasons) == (False, [])
    assert submission.quality_score >= factory_threshold()


@pytest.mark.parametrize("path", PATHS)
def test_every_path_refuses_impossible_speed_the_same_way(path, creator, settings):
    """Ten actions in 0.6 s: the grader names it (`impossible_speed`) and gates the score, so
    no path pays it, and all give it the same score."""
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=10)
    demo = demonstration(minutes=0.01)
    submission = submit(factory, demo)

    path(submission)

    submission.refresh_from_db()
    expected = scoring.grade(demo, task=_task(factory))
    assert "impossible_speed" in expected.breakdown["gate"]["flags"]
    assert submission.quality_score == expected.score < factory_threshold()
    assert submission.score_breakdown["gate"]["flags"] == expected.breakdown["gate"]["flags"]
    if path is batch_inline:  # the batch settles at once: refused, nothing paid
        assert submission.status == Submission.Status.REJECTED
        assert submission.farmer_reward in (None, 0)


def factory_threshold():
    from pools.selectors import economics_config

    return economics_config().quality_threshold


def test_nothing_sends_a_task_that_does_not_exist_any_more():
    """Reviews and retries go through the scoring service and `pools.submission_settle`; the
    one-submission task nobody sent is gone."""
    from celery import current_app

    current_app.loader.import_default_modules()  # every app's tasks, as a worker loads them
    assert "pools.submission_process" not in current_app.tasks
    assert {"pools.submission_settle", "pools.submissions_process_pending"} <= set(current_app.tasks)
