"""Closing a factory: everything left in its pool returns to the creator, now for what is
available and later for what in-flight claims hold, so nothing stays stranded."""

from datetime import timedelta

import pytest

from core.exceptions import Conflict, Forbidden
from ledger.models import Account
from pools.models import Factory, Submission
from pools.selectors import pool_summary
from pools.services.claims import claim_create, claims_expire_due
from pools.services.deposits import deposit_create
from pools.services.factories import factory_close
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _creator_balance(factory) -> int:
    account = Account.objects.filter(
        kind=Account.Kind.USER_BALANCE, holder=f"user:{factory.creator_id}", token=factory.token
    ).first()
    return account.balance if account else 0


def _pool(factory) -> tuple[int, int]:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    return factory.available_account.balance, factory.reserved_account.balance


def test_closing_returns_the_available_pool_to_the_creator(creator):
    factory = funded_factory(creator, reward="0.2", deposit="1.5")

    factory_close(factory=factory, actor=creator)

    factory.refresh_from_db()
    assert factory.status == Factory.Status.CLOSED
    assert factory.closed_at is not None
    assert _pool(factory) == (0, 0)
    assert _creator_balance(factory) == 1_500_000
    assert factory.returned_to_creator == 1_500_000
    assert pool_summary(factory).refunded == 1_500_000
    assert_audit_clean()


def test_closing_twice_returns_the_money_once(creator):
    factory = funded_factory(creator, deposit="1")

    factory_close(factory=factory, actor=creator)
    factory_close(factory=factory, actor=creator)

    assert _creator_balance(factory) == 1_000_000
    assert_audit_clean()


def test_closing_an_unfunded_draft_moves_no_money(creator):
    factory = funded_factory(creator, deposit=None)

    factory_close(factory=factory, actor=creator)

    factory.refresh_from_db()
    assert factory.status == Factory.Status.CLOSED
    assert _creator_balance(factory) == 0
    assert_audit_clean()


def test_in_flight_money_returns_to_the_creator_as_each_claim_expires_or_settles(
    settings, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.2", deposit="1")
    waiting_farmer, working_farmer = FarmerFactory(), FarmerFactory()
    open_claim = claim_create(factory=factory, farmer=waiting_farmer)
    submitted_claim = claim_create(factory=factory, farmer=working_farmer)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(
            claim_id=submitted_claim.pk, farmer=working_farmer, demonstration=demonstration()
        )
    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.SUBMITTED  # waits for a score

    factory_close(factory=factory, actor=creator)
    assert _pool(factory) == (0, 400_000)
    assert _creator_balance(factory) == 600_000
    assert_audit_clean()

    # The open claim times out: its reservation goes back to the creator, not the pool.
    assert claims_expire_due(now=open_claim.expires_at + timedelta(seconds=1)) == 1
    assert _pool(factory) == (0, 200_000)
    assert _creator_balance(factory) == 800_000
    assert_audit_clean()

    # The submission settles at q=0.6: G = 0.12 is paid out, R - G = 0.08 returns to the creator.
    with django_capture_on_commit_callbacks(execute=True):
        submission_review(submission_id=submission.pk, reviewer=staff, quality_score="0.6")
    submission.refresh_from_db()
    assert submission.status == Submission.Status.SETTLED
    assert (submission.gross_payout, submission.refunded_to_pool) == (120_000, 80_000)

    assert _pool(factory) == (0, 0)
    assert _creator_balance(factory) == 880_000  # 1 deposited - 0.12 paid out, to the unit
    factory.refresh_from_db()
    assert factory.returned_to_creator == 880_000
    assert factory.in_flight_count == 0
    summary = pool_summary(factory)
    assert summary.deposited == summary.paid_out + summary.refunded
    assert_audit_clean()


def test_a_rejected_submission_on_a_closed_factory_returns_its_whole_reward(
    settings, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.2", deposit="0.2")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    factory_close(factory=factory, actor=creator)

    with django_capture_on_commit_callbacks(execute=True):
        submission_review(submission_id=submission.pk, reviewer=staff, quality_score="0.1")

    assert Submission.objects.get(pk=submission.pk).status == Submission.Status.REJECTED
    assert _pool(factory) == (0, 0)
    assert _creator_balance(factory) == 200_000
    assert_audit_clean()


def test_a_closed_factory_refuses_deposits_and_claims(as_user, creator, farmer):
    factory = funded_factory(creator, deposit="1")
    factory_close(factory=factory, actor=creator)

    with pytest.raises(Conflict):
        deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-after-close")
    with pytest.raises(Conflict):
        claim_create(factory=factory, farmer=farmer)
    deposit = as_user(creator).post(
        f"/api/v1/factories/{factory.pk}/deposits/", {"amount": "1", "tx_ref": "sig-after-close"}, format="json"
    )
    claim = as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/")

    assert (deposit.status_code, claim.status_code) == (409, 409)
    assert _pool(factory) == (0, 0)
    assert _creator_balance(factory) == 1_000_000


def test_only_the_owner_closes_a_factory(creator):
    factory = funded_factory(creator, deposit="1")

    with pytest.raises(Forbidden):
        factory_close(factory=factory, actor=CreatorFactory())

    factory.refresh_from_db()
    assert factory.status == Factory.Status.ACTIVE
    assert _pool(factory) == (1_000_000, 0)


def test_the_owner_closes_through_the_api(as_user, creator):
    factory = funded_factory(creator, deposit="1")

    response = as_user(creator).post(f"/api/v1/factories/{factory.pk}/close/")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "closed"
    assert body["closed_at"] is not None
    assert body["pool"]["available"] == "0.000000"
    assert body["pool"]["refunded"] == "1.000000"
    assert _creator_balance(factory) == 1_000_000
    balances = as_user(creator).get("/api/v1/me/balances/").json()
    assert {"token": "USDC", "available": "1.000000"}.items() <= next(
        row for row in balances if row["token"] == "USDC"
    ).items()
    assert_audit_clean()


def test_others_cannot_close_through_the_api(as_user, creator, farmer):
    factory = funded_factory(creator, deposit="1")

    assert as_user(CreatorFactory()).post(f"/api/v1/factories/{factory.pk}/close/").status_code == 403
    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/close/").status_code == 403
    factory.refresh_from_db()
    assert factory.status == Factory.Status.ACTIVE
    assert _pool(factory) == (1_000_000, 0)
