"""The server's claim window (issue 16): the scoring service gives the agent the claim's
creation time and the submission's server time, never the farmer's declared times, so a
recording dated outside the claim, or declaring more work than the claim lasted, is refused on
every scoring path, while honest work recorded inside the window is paid."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pools.models import Claim, Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory
from tests.pools.test_scoring_paths import PATHS, batch_inline

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def claim_window_on(settings):
    settings.FORGE_GRADER = "rules"
    settings.FORGE_GRADE_CLAIM_WINDOW = True


def dated(start, minutes: float = 6.0) -> dict:
    demo = demonstration(minutes=minutes)
    duration = timedelta(minutes=minutes)
    demo["started_at"] = start.isoformat()
    demo["ended_at"] = (start + duration).isoformat()
    return demo


def claim_then_submit(factory, demo_for, *, claimed_minutes_ago: float) -> Submission:
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    claimed_at = timezone.now() - timedelta(minutes=claimed_minutes_ago)
    Claim.objects.filter(pk=claim.pk).update(created_at=claimed_at)  # the claim was made earlier
    return submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo_for(claimed_at))


CHEATS = {
    "dated 2099": (lambda claimed_at: dated(claimed_at.replace(year=2099)), 30, "after it was submitted"),
    "a year before the claim": (lambda claimed_at: dated(claimed_at - timedelta(days=365)), 30, "before the task"),
    # Every recorded time within the 2-minute tolerance of the window, but 200 s of work
    # declared in a claim submitted 1 s after it was made.
    "200 s declared 1 s after claiming": (
        lambda claimed_at: dated(claimed_at - timedelta(seconds=110), minutes=200 / 60),
        1 / 60,
        "in a claim that lasted",
    ),
    "6 minutes declared 1 s after claiming": (lambda claimed_at: dated(claimed_at), 1 / 60, "after it was submitted"),
}


@pytest.mark.parametrize("cheat", list(CHEATS))
@pytest.mark.parametrize("path", PATHS)
def test_recordings_outside_the_claim_window_are_not_paid(path, cheat, creator):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    demo_for, claimed_minutes_ago, message = CHEATS[cheat]
    submission = claim_then_submit(factory, demo_for, claimed_minutes_ago=claimed_minutes_ago)

    path(submission)

    submission.refresh_from_db()
    flag = submission.score_breakdown["gate"]["flags"].get("outside_claim_window", "")
    assert message in flag
    assert submission.quality_score < 0.5  # the quality threshold: nothing paid
    if path is batch_inline:
        assert submission.status == Submission.Status.REJECTED


@pytest.mark.parametrize("path", PATHS)
def test_honest_work_inside_the_claim_window_is_paid(path, creator):
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    submission = claim_then_submit(
        factory, lambda claimed_at: dated(claimed_at + timedelta(minutes=1)), claimed_minutes_ago=10
    )

    path(submission)

    submission.refresh_from_db()
    assert "outside_claim_window" not in submission.score_breakdown["gate"]["flags"]
    assert submission.quality_score >= 0.5 and not submission.needs_review
    if path is batch_inline:
        assert submission.status == Submission.Status.SETTLED
