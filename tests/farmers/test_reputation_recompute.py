"""Recomputing a farmer's reputation from settled work: after each settlement commits (the
farmers.reputation_recompute task), idempotent, with a history of snapshots."""

from __future__ import annotations

from decimal import Decimal

import pytest

from farmers.models import FarmerProfile, ReputationSnapshot
from farmers.reputation import NEWCOMER_REPUTATION
from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from farmers.tasks import reputation_recompute_task
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_review
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory
from tests.farmers.helpers import settle, submit
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def factory():
    return funded_factory(CreatorFactory(), reward="0.2", deposit="10")


def test_a_farmer_without_settled_work_has_the_newcomer_score(farmer):
    assert reputation_of(farmer) == NEWCOMER_REPUTATION

    profile = reputation_recompute(farmer_id=farmer.pk)

    assert profile.reputation == NEWCOMER_REPUTATION
    assert not ReputationSnapshot.objects.filter(user=farmer).exists()


def test_settlement_recomputes_the_reputation_through_the_task_after_commit(
    factory, farmer, django_capture_on_commit_callbacks
):
    submission = submit(factory, farmer)
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.95")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submission_settle(submission_id=submission.pk)
    assert reputation_of(farmer) == NEWCOMER_REPUTATION  # nothing before the commit

    for callback in callbacks:
        callback()  # the commit happened: the eager farmers.reputation_recompute task runs

    profile = FarmerProfile.objects.get(user=farmer)
    assert profile.settled_count == 1
    # One q=0.95 submission, on time: quality 0.6125, consistency and speed 0.625.
    assert profile.reputation == Decimal("61.88")
    assert profile.breakdown["quality"]["score"] == "0.6125"
    snapshot = ReputationSnapshot.objects.get(user=farmer)
    assert (snapshot.reputation, snapshot.last_submission_id) == (Decimal("61.88"), submission.pk)


def test_the_task_is_registered_under_its_explicit_name():
    assert reputation_recompute_task.name == "farmers.reputation_recompute"


def test_recomputing_the_same_work_again_changes_nothing_and_adds_no_snapshot(factory, farmer):
    settle(factory, farmer, "0.8")
    first = reputation_recompute(farmer_id=farmer.pk)

    again = reputation_recompute_task.delay(farmer.pk).get()  # a redelivered task
    reputation_recompute(farmer_id=farmer.pk)

    assert Decimal(again) == first.reputation
    assert FarmerProfile.objects.get(user=farmer).reputation == first.reputation
    assert ReputationSnapshot.objects.filter(user=farmer).count() == 1


def test_each_settlement_adds_one_snapshot_to_the_history(factory, farmer):
    scores = ["0.9", "0.3", "0.8"]
    for score in scores:
        settle(factory, farmer, score)
        reputation_recompute(farmer_id=farmer.pk)

    history = list(ReputationSnapshot.objects.filter(user=farmer).order_by("id"))
    assert len(history) == 3
    assert history[0].reputation > NEWCOMER_REPUTATION  # a good first result
    assert history[1].reputation < history[0].reputation  # a rejected one pulls it down
    assert history[2].reputation > history[1].reputation
    assert FarmerProfile.objects.get(user=farmer).reputation == history[2].reputation


def test_a_corrected_score_adds_a_snapshot_even_with_the_same_newest_submission(factory, farmer):
    submission = settle(factory, farmer, "0.9")
    reputation_recompute(farmer_id=farmer.pk)
    before = reputation_of(farmer)

    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.2")
    reputation_recompute(farmer_id=farmer.pk)

    assert reputation_of(farmer) < before
    assert ReputationSnapshot.objects.filter(user=farmer, last_submission_id=submission.pk).count() == 2


def test_only_settled_work_counts(factory, farmer):
    settle(factory, farmer, "0.9")
    submit(factory, FarmerFactory())  # someone else's, unsettled
    submit(funded_factory(CreatorFactory()), farmer)  # the farmer's own, still being scored

    profile = reputation_recompute(farmer_id=farmer.pk)

    assert profile.settled_count == 1
    assert profile.breakdown["submissions"] == 1


def test_a_rejected_submission_counts_as_settled_work_that_did_not_pass(factory, farmer):
    settle(factory, farmer, "0.1")

    profile = reputation_recompute(farmer_id=farmer.pk)

    assert profile.settled_count == 1
    assert profile.breakdown["pass_rate"] == "0.3750"
    assert profile.reputation < NEWCOMER_REPUTATION
