"""A real worker settles a submission and then runs the coalesced farmers.reputation_refresh: the farmer's
reputation and its history follow, once."""

import pytest

from farmers.models import FarmerProfile, ReputationSnapshot
from farmers.reputation import NEWCOMER_REPUTATION
from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import wait_for
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.integration


def test_a_real_worker_recomputes_the_reputation_after_settling(celery_worker_process):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    settled = wait_for(
        lambda: Submission.objects.filter(pk=submission.pk, status__in=["settled", "rejected"]).first(),
        message="the worker to settle the submission",
    )
    profile = wait_for(
        lambda: FarmerProfile.objects.filter(user=farmer, settled_count=1).first(),
        message="the worker to recompute the reputation",
    )

    assert profile.reputation != NEWCOMER_REPUTATION
    assert profile.breakdown["submissions"] == 1
    snapshot = ReputationSnapshot.objects.get(user=farmer)
    assert (snapshot.reputation, snapshot.last_submission_id) == (profile.reputation, settled.pk)
    wait_for(
        lambda: celery_worker_process.succeeded("farmers.reputation_refresh") >= 1,
        message="the worker to log the reputation task",
    )
