"""Changing the reward: the owner sets it for new claims; open claims keep (and are paid
from) the reward they reserved; every rate is kept in the history."""

import pytest

from ledger.models import Account, Transaction
from pools.models import Factory, RateChange, Submission
from pools.services.claims import claim_create
from pools.services.factories import factory_close, factory_rate_change
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _rate(client, factory, reward):
    return client.post(f"/api/v1/factories/{factory.pk}/rate/", {"reward": reward}, format="json")


def _balance(user, token) -> int:
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token).first()
    return account.balance if account else 0


def test_the_owner_changes_the_rate_and_sees_the_history(as_user, creator):
    factory = funded_factory(creator, reward="0.2")

    response = _rate(as_user(creator), factory, "0.35")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["reward"] == "0.350000"
    assert [(row["old_reward"], row["new_reward"]) for row in body["rate_history"]] == [
        ("0.200000", "0.350000"),
        (None, "0.200000"),
    ]
    factory.refresh_from_db()
    assert factory.reward == 350_000
    change = RateChange.objects.filter(factory=factory).first()
    assert (change.old_reward, change.new_reward, change.changed_by) == (200_000, 350_000, creator)


def test_lowering_the_rate_is_allowed_too(as_user, creator):
    factory = funded_factory(creator, reward="0.2")

    assert _rate(as_user(creator), factory, "0.05").json()["reward"] == "0.050000"
    assert RateChange.objects.filter(factory=factory).count() == 2


def test_setting_the_same_rate_adds_no_history(as_user, creator):
    factory = funded_factory(creator, reward="0.2")

    assert _rate(as_user(creator), factory, "0.200000").status_code == 200
    assert RateChange.objects.filter(factory=factory).count() == 1


def test_others_cannot_change_the_rate(as_user, creator):
    factory = funded_factory(creator, reward="0.2")

    assert _rate(as_user(CreatorFactory()), factory, "9").status_code == 403
    assert _rate(as_user(FarmerFactory()), factory, "9").status_code == 403
    factory.refresh_from_db()
    assert factory.reward == 200_000
    assert RateChange.objects.filter(factory=factory).count() == 1


def test_a_stranger_learns_nothing_from_field_errors(as_user, creator):
    factory = funded_factory(creator, reward="0.2")

    assert _rate(as_user(CreatorFactory()), factory, "not money").status_code == 403


def test_changing_the_rate_needs_credentials_and_an_existing_factory(api, as_user, creator):
    factory = funded_factory(creator)

    assert _rate(api, factory, "1").status_code == 401
    assert _rate(as_user(creator), Factory(pk=999999), "1").status_code == 404


@pytest.mark.parametrize("reward", ["0.1234567", "-0.2", "0", 0.3, ""])
def test_an_invalid_rate_is_400_and_changes_nothing(as_user, creator, reward):
    factory = funded_factory(creator, reward="0.2")

    response = _rate(as_user(creator), factory, reward)

    assert response.status_code == 400
    assert "reward" in response.json()
    factory.refresh_from_db()
    assert factory.reward == 200_000
    assert RateChange.objects.filter(factory=factory).count() == 1


def test_a_closed_factory_rate_cannot_change(as_user, creator):
    factory = funded_factory(creator)
    factory_close(factory=factory, actor=creator)

    assert _rate(as_user(creator), factory, "0.5").status_code == 409
    factory.refresh_from_db()
    assert factory.reward == 200_000


def test_an_open_claim_keeps_its_reward_and_settles_with_it(
    settings, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"  # the score is given below, so the payout is known exactly
    factory = funded_factory(creator, reward="0.2", deposit="2")
    early_farmer, late_farmer = FarmerFactory(), FarmerFactory()
    early = claim_create(factory=factory, farmer=early_farmer)

    factory_rate_change(factory=factory, reward="0.5", actor=creator)
    late = claim_create(factory=factory, farmer=late_farmer)

    early.refresh_from_db()
    assert (early.reward, late.reward) == (200_000, 500_000)
    factory.refresh_from_db()
    assert factory.reserved_account.balance == 700_000

    with django_capture_on_commit_callbacks(execute=True):
        submission = submission_create(claim_id=early.pk, farmer=early_farmer, demonstration=demonstration())
    with django_capture_on_commit_callbacks(execute=True):
        submission_review(submission_id=submission.pk, reviewer=staff, quality_score="1")

    submission.refresh_from_db()
    assert submission.status == Submission.Status.SETTLED
    assert submission.gross_payout == 200_000  # the reserved reward, not the new rate
    assert submission.farmer_reward == 180_000  # G minus the 10% platform fee
    assert submission.refunded_to_pool == 0
    assert _balance(early_farmer, factory.token) == 180_000
    factory.refresh_from_db()
    assert factory.reserved_account.balance == 500_000  # only the late claim is still reserved
    assert factory.available_account.balance == 2_000_000 - 700_000
    assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    assert_audit_clean()
