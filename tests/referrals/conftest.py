"""Referral fixtures: ambassadors, and CLONES credited the way a real deposit credits them."""

from __future__ import annotations

import itertools

import pytest
from django.core.cache import cache

from core.money import parse_amount
from ledger.models import Account, Token
from ledger.services import Leg, account_get, transaction_post, world_deposits_account
from referrals.models import Ambassador
from referrals.services import ambassador_create
from tests.factories import UserFactory

_deposits = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_throttles():
    # Registration is throttled per client address in the (process-wide) cache.
    cache.clear()
    yield
    cache.clear()


def clones_credit(user, amount: str) -> int:
    """Credit `amount` CLONES to `user`'s balance, as a confirmed CLONES deposit does: a ledger
    transaction from the world's deposits account. Returns the base units credited."""
    token = Token.objects.get(symbol="CLONES")
    units = parse_amount(amount, decimals=token.decimals)
    transaction_post(
        key=f"test-clones-deposit:{next(_deposits)}:{user.pk}",
        kind="deposit",
        legs=[
            Leg(world_deposits_account(token), -units),
            Leg(account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token), units),
        ],
        memo=f"Test CLONES deposit for {user}",
    )
    return units


def clones_balances(user) -> dict[str, int]:
    """{kind: base units} of a user's CLONES accounts (0 when an account does not exist yet)."""
    token = Token.objects.get(symbol="CLONES")
    rows = dict(Account.objects.filter(holder=f"user:{user.pk}", token=token).values_list("kind", "balance"))
    return {
        kind: int(rows.get(kind, 0))
        for kind in (Account.Kind.USER_BALANCE, Account.Kind.USER_STAKE, Account.Kind.USER_UNBONDING)
    }


def clones_units(whole: int | str) -> int:
    """Whole CLONES in base units (9 decimals unless configured otherwise)."""
    return parse_amount(str(whole), decimals=Token.objects.get(symbol="CLONES").decimals)


def make_ambassador(user=None, **user_fields) -> Ambassador:
    user = user or UserFactory(**user_fields)
    return ambassador_create(user=user)[0]


@pytest.fixture
def ambassador(db) -> Ambassador:
    return make_ambassador(username="amb")
