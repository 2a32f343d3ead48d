"""Helpers that set up money through the real services (never by writing ledger rows)."""

from __future__ import annotations

import itertools

from ledger.audit import ledger_audit
from pools.models import Factory
from pools.services.deposits import deposit_confirm, deposit_create
from pools.services.factories import factory_create

_refs = itertools.count(1)


def funded_factory(creator, *, token="USDC", reward="0.2", deposit="10", **fields) -> Factory:
    factory = factory_create(
        creator=creator,
        title=fields.pop("title", "Make a budget sheet"),
        instructions=fields.pop("instructions", "Create a spreadsheet named Budget and fill the sheet."),
        token=token,
        reward=reward,
        **fields,
    )
    if deposit:
        fund(factory, deposit)
    factory.refresh_from_db()
    return factory


def fund(factory: Factory, amount: str):
    deposit = deposit_create(factory=factory, actor=factory.creator, amount=amount, tx_ref=f"sig-{next(_refs)}")
    return deposit_confirm(deposit=deposit, actor=None)


def assert_audit_clean():
    report = ledger_audit()
    assert report.ok, report.mismatches
    return report
