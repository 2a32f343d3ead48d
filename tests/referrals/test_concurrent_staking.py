"""Two stakes racing for the same balance on PostgreSQL: one wins, the other is refused whole."""

import threading

import pytest
from django.db import connection

from ledger.services import InsufficientFunds
from referrals.models import Ambassador, TierChange
from referrals.services import stake
from tests.money_helpers import assert_audit_clean
from tests.referrals.conftest import clones_balances, clones_credit, clones_units, make_ambassador

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_two_concurrent_stakes_cannot_spend_the_same_clones_twice():
    ambassador = make_ambassador(username="racer")
    clones_credit(ambassador.user, "1500000")
    barrier = threading.Barrier(2)
    outcomes = []

    def stake_one_million():
        try:
            barrier.wait(timeout=10)
            stake(ambassador=Ambassador.objects.get(pk=ambassador.pk), amount="1000000")
            outcomes.append("staked")
        except InsufficientFunds:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=stake_one_million) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["refused", "staked"]
    balances = clones_balances(ambassador.user)
    assert balances["user_stake"] == clones_units(1000000)
    assert balances["user_balance"] == clones_units(500000)
    ambassador.refresh_from_db()
    assert ambassador.stake_tier == 1
    assert TierChange.objects.filter(ambassador=ambassador).count() == 1
    assert_audit_clean()
