"""Staking CLONES: balance -> stake (tier follows), unstake -> unbonding at once (tier drops),
and back to the balance after the cooldown."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ledger.models import Account, Transaction
from ledger.services import InsufficientFunds
from pools.selectors import economics_config
from referrals.models import TierChange, Unstake
from referrals.services import stake, unstake, unstakes_release_due
from referrals.tasks import unstakes_release_task
from tests.money_helpers import assert_audit_clean
from tests.referrals.conftest import clones_balances, clones_credit, clones_units

pytestmark = pytest.mark.django_db

BALANCE, STAKE, UNBONDING = Account.Kind.USER_BALANCE, Account.Kind.USER_STAKE, Account.Kind.USER_UNBONDING


def test_staking_moves_clones_from_balance_to_stake(ambassador):
    clones_credit(ambassador.user, "1500000")

    stake(ambassador=ambassador, amount="1200000.5")

    assert clones_balances(ambassador.user) == {
        BALANCE: clones_units("299999.5"),
        STAKE: clones_units("1200000.5"),
        UNBONDING: 0,
    }
    assert_audit_clean()


@pytest.mark.parametrize(
    ("staked", "tier"),
    [
        ("999999.999999999", 0),
        ("1000000", 1),
        ("1999999", 1),
        ("2000000", 2),
        ("3000000", 3),
        ("4500000", 4),
        ("5000000", 5),
        ("25000000", 5),
    ],
)
def test_the_tier_follows_the_default_stake_thresholds(ambassador, staked, tier):
    clones_credit(ambassador.user, "30000000")

    ambassador = stake(ambassador=ambassador, amount=staked)

    assert ambassador.stake_tier == tier
    assert ambassador.tier == tier
    ambassador.refresh_from_db()
    assert ambassador.stake_tier == tier


def test_reaching_a_tier_records_the_change(ambassador):
    clones_credit(ambassador.user, "3000000")

    stake(ambassador=ambassador, amount="500000")
    assert not TierChange.objects.exists()  # still tier 0: nothing changed
    stake(ambassador=ambassador, amount="2500000")

    change = TierChange.objects.get()
    assert (change.old_tier, change.new_tier, change.cause) == (0, 3, TierChange.Cause.STAKE)
    assert change.changed_by is None
    assert change.created_at <= timezone.now()


def test_staking_more_than_the_balance_is_refused_and_moves_nothing(ambassador):
    clones_credit(ambassador.user, "1000")
    before_transactions = Transaction.objects.count()

    with pytest.raises(InsufficientFunds) as error:
        stake(ambassador=ambassador, amount="1000.000000001")

    assert error.value.status == 409
    assert clones_balances(ambassador.user) == {BALANCE: clones_units(1000), STAKE: 0, UNBONDING: 0}
    assert Transaction.objects.count() == before_transactions
    ambassador.refresh_from_db()
    assert ambassador.stake_tier == 0


@pytest.mark.parametrize("amount", ["1.0000000001", "-5", "0", "abc", 1.5, ""])
def test_malformed_amounts_are_refused(ambassador, amount):
    clones_credit(ambassador.user, "10")

    with pytest.raises(ValidationError):
        stake(ambassador=ambassador, amount=amount)
    with pytest.raises(ValidationError):
        unstake(ambassador=ambassador, amount=amount)

    assert clones_balances(ambassador.user)[BALANCE] == clones_units(10)
    assert not Unstake.objects.exists()


def test_a_repeated_stake_request_with_the_same_key_stakes_once(ambassador):
    clones_credit(ambassador.user, "10")

    stake(ambassador=ambassador, amount="4", request_key="form-123")
    stake(ambassador=ambassador, amount="4", request_key="form-123")

    assert clones_balances(ambassador.user)[STAKE] == clones_units(4)


def test_unstaking_drops_the_tier_at_once_and_holds_the_clones_in_unbonding(ambassador):
    clones_credit(ambassador.user, "2500000")
    stake(ambassador=ambassador, amount="2500000")

    request = unstake(ambassador=ambassador, amount="1000000")

    ambassador.refresh_from_db()
    assert ambassador.tier == 1
    assert clones_balances(ambassador.user) == {
        BALANCE: 0,
        STAKE: clones_units(1500000),
        UNBONDING: clones_units(1000000),
    }
    hours = economics_config().unstake_cooldown_hours
    assert request.available_at == request.created_at + timedelta(hours=hours)
    latest = TierChange.objects.first()
    assert (latest.old_tier, latest.new_tier, latest.cause) == (2, 1, TierChange.Cause.STAKE)
    assert_audit_clean()


def test_unstaking_more_than_the_stake_is_refused_and_records_nothing(ambassador):
    clones_credit(ambassador.user, "100")
    stake(ambassador=ambassador, amount="100")

    with pytest.raises(InsufficientFunds):
        unstake(ambassador=ambassador, amount="100.5")

    assert not Unstake.objects.exists()
    assert clones_balances(ambassador.user)[STAKE] == clones_units(100)


def test_unbonding_clones_return_to_the_balance_only_after_the_cooldown(ambassador):
    config = economics_config()
    config.unstake_cooldown_hours = 24
    config.save()
    clones_credit(ambassador.user, "1000000")
    stake(ambassador=ambassador, amount="1000000")
    request = unstake(ambassador=ambassador, amount="400000")

    assert unstakes_release_due(now=request.available_at - timedelta(seconds=1)) == 0
    assert clones_balances(ambassador.user)[UNBONDING] == clones_units(400000)

    assert unstakes_release_due(now=request.available_at) == 1

    request.refresh_from_db()
    assert request.status == Unstake.Status.RELEASED
    assert request.released_at == request.available_at
    assert clones_balances(ambassador.user) == {
        BALANCE: clones_units(400000),
        STAKE: clones_units(600000),
        UNBONDING: 0,
    }
    assert unstakes_release_due(now=request.available_at + timedelta(days=1)) == 0  # once only
    assert clones_balances(ambassador.user)[BALANCE] == clones_units(400000)
    assert_audit_clean()


def test_the_beat_task_releases_what_is_due(ambassador):
    config = economics_config()
    config.unstake_cooldown_hours = 0
    config.save()
    clones_credit(ambassador.user, "50")
    stake(ambassador=ambassador, amount="50")
    unstake(ambassador=ambassador, amount="20")
    unstake(ambassador=ambassador, amount="5")

    assert unstakes_release_task.delay().get() == 2

    assert clones_balances(ambassador.user) == {BALANCE: clones_units(25), STAKE: clones_units(25), UNBONDING: 0}
    assert not Unstake.objects.filter(status=Unstake.Status.PENDING).exists()


def test_balances_api_shows_staked_and_unstaking_clones(as_user, ambassador):
    clones_credit(ambassador.user, "10")
    stake(ambassador=ambassador, amount="7")
    unstake(ambassador=ambassador, amount="2")

    rows = {row["token"]: row for row in as_user(ambassador.user).get("/api/v1/me/balances/").json()}

    assert rows["CLONES"]["available"] == "3.000000000"
    assert rows["CLONES"]["staked"] == "5.000000000"
    assert rows["CLONES"]["unstaking"] == "2.000000000"
