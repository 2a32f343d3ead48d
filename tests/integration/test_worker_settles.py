"""submit -> scored -> settled by a real worker on Redis, audit clean."""

import pytest

from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def test_a_real_worker_scores_and_settles_a_submission(celery_worker_process):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    settled = wait_for(
        lambda: Submission.objects.filter(pk=submission.pk, status__in=["settled", "rejected"]).first(),
        message="the worker to settle the submission",
    )
    assert settled.settlement_transaction_id is not None
    assert settled.quality_score is not None
    assert_audit_clean()
