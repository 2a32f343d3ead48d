"""A creator's double click: two bonus requests for one demonstration at the same moment pay
once (PostgreSQL, real threads, each with its own connection)."""

import pytest

from core.exceptions import Conflict
from pools.models import Bonus
from pools.services.claims import claim_create
from pools.services.controls import bonus_give
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from tests.concurrency import all_at_once
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_bonuses_for_one_demonstration_pay_once():
    creator, farmer = CreatorFactory(), FarmerFactory()
    factory = funded_factory(creator, reward="0.2", deposit="5")
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    submission_settle(submission_id=submission.pk)

    same = [lambda: bonus_give(submission_id=submission.pk, creator=creator, amount="0.5") for _ in range(4)]
    other = [lambda: bonus_give(submission_id=submission.pk, creator=creator, amount="0.7") for _ in range(2)]
    results = all_at_once(same + other)

    bonuses = [result for result in results if isinstance(result, Bonus)]
    refused = [result for result in results if isinstance(result, Conflict)]
    assert len(bonuses) + len(refused) == len(results), results
    assert len({bonus.pk for bonus in bonuses}) == 1  # every success is the same bonus
    assert Bonus.objects.count() == 1
    assert_audit_clean()
