"""Ledger test helpers: accounts named by opaque holder strings, money put in through
`transaction_post` (the one writer), never by writing rows."""

from __future__ import annotations

import itertools

import pytest

from ledger.models import Account, Entry, Token, Transaction
from ledger.services import Leg, account_get, transaction_post, world_deposits_account

Kind = Account.Kind
_keys = itertools.count(1)


def key(prefix: str = "test") -> str:
    return f"{prefix}:{next(_keys)}"


def account(kind: str, holder: str, token: Token) -> Account:
    return account_get(kind=kind, holder=holder, token=token)


def deposit(to: Account, units: int, *, key_: str | None = None) -> Transaction:
    """Money in from the outside world, as pools' deposit_confirm posts it."""
    return transaction_post(
        key=key_ or key("deposit"),
        kind="deposit",
        legs=[Leg(world_deposits_account(to.token), -units), Leg(to, units)],
    )


def balance(account_: Account) -> int:
    return Account.objects.get(pk=account_.pk).balance


def row_counts() -> tuple[int, int]:
    return Transaction.objects.count(), Entry.objects.count()


@pytest.fixture
def usdc(db):
    return Token.objects.get(symbol="USDC")


@pytest.fixture
def sol(db):
    return Token.objects.get(symbol="SOL")


@pytest.fixture
def eth(db):
    return Token.objects.get(symbol="ETH")
