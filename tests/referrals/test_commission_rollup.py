"""The commission rollup (referrals.CommissionDay) that the ambassador dashboard reads: written
with every settlement (single and batch) and every score adjustment, equal at all times to a
recomputation from the settled submissions, checked by the ledger audit, and filled for
submissions settled before it existed by migration 0005."""

from __future__ import annotations

import importlib
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.db.models import F
from django.utils import timezone

from ledger.audit import ledger_audit
from ledger.models import Token
from pools.models import Submission
from pools.services import settlement as settlement_module
from pools.services.batch import process_batch
from pools.services.submissions import submission_review
from referrals.models import CommissionDay
from referrals.selectors import audit_commission_rollup, commission_rollup_expected
from referrals.services import (
    SettledCommission,
    ambassador_set_tier,
    commission_rollup_add,
    commission_rollup_rebuild,
    referral_attach,
)
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory
from tests.farmers.helpers import settle, submit
from tests.money_helpers import funded_factory
from tests.referrals.conftest import make_ambassador

pytestmark = pytest.mark.django_db


def stored() -> dict[tuple, tuple[int, int]]:
    """The rollup as {(user id, day, token id): (farmer side, factory side)}, zero rows left out."""
    return {
        (user_id, day, token_id): (farmer, factory)
        for user_id, day, token_id, farmer, factory in CommissionDay.objects.values_list(
            "user_id", "day", "token_id", "farmer_side", "factory_side"
        )
        if farmer or factory
    }


def assert_rollup_matches_submissions() -> None:
    assert stored() == commission_rollup_expected()
    assert audit_commission_rollup() == []


@pytest.fixture
def world(staff):
    """A farmer referred by a tier-3 ambassador (3% of G) and a creator by a tier-5 one (5%),
    and the creator's USDC factory paying 0.2 USDC."""
    farmer_amb, factory_amb = make_ambassador(username="famb"), make_ambassador(username="camb")
    ambassador_set_tier(ambassador=farmer_amb, tier=3, actor=staff)
    ambassador_set_tier(ambassador=factory_amb, tier=5, actor=staff)
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=farmer_amb)
    referral_attach(user=creator, ambassador=factory_amb)
    factory = funded_factory(creator, token="USDC", reward="0.2", deposit="5")
    return SimpleNamespace(
        farmer=farmer,
        creator=creator,
        factory=factory,
        farmer_amb=farmer_amb.user_id,
        factory_amb=factory_amb.user_id,
        usdc=Token.objects.get(symbol="USDC").pk,
    )


def test_a_single_settlement_adds_both_sides_on_its_day(world):
    settle(world.factory, world.farmer, "1")  # G = 0.2 USDC: 3% = 6000, 5% = 10000
    settle(world.factory, world.farmer, "0.8")  # G = 0.16 USDC: 4800 and 8000

    today = timezone.localdate()
    assert stored() == {
        (world.farmer_amb, today, world.usdc): (10_800, 0),
        (world.factory_amb, today, world.usdc): (0, 18_000),
    }
    assert_rollup_matches_submissions()


def test_a_rejected_settlement_adds_nothing(world):
    settled = settle(world.factory, world.farmer, "0.1")  # below the quality threshold

    assert settled.status == Submission.Status.REJECTED
    assert settled.farmer_ambassador_id == world.farmer_amb  # the ambassadors are recorded ...
    assert stored() == {}  # ... but nothing was earned
    assert_rollup_matches_submissions()


def test_a_batch_settlement_adds_what_its_rows_earned(world):
    for _ in range(4):
        submit(world.factory, world.farmer)
    submit(world.factory, FarmerFactory())  # nobody referred this farmer: factory side only

    assert process_batch(limit=10) == 5

    settled = Submission.objects.filter(factory=world.factory, status=Submission.Status.SETTLED)
    assert settled.count() == 5  # the rules grader accepted them: there are commissions to add
    today = timezone.localdate()
    assert stored()[(world.factory_amb, today, world.usdc)][1] > 0
    assert stored()[(world.farmer_amb, today, world.usdc)][0] > 0
    assert_rollup_matches_submissions()


@pytest.mark.parametrize(
    ("first", "then", "farmer_side", "factory_side"),
    [
        ("1", "0.6", 3_600, 6_000),  # lowered: G 0.2 -> 0.12
        ("0.6", "1", 6_000, 10_000),  # raised
        ("1", "0.1", 0, 0),  # lowered below the threshold: rejected, commissions taken back
        ("0.1", "0.9", 5_400, 9_000),  # a rejected submission accepted on review
    ],
)
def test_an_adjustment_changes_the_day_its_submission_settled_on(world, first, then, farmer_side, factory_side):
    submission = settle(world.factory, world.farmer, first)
    # It settled three days ago (its rollup row moved with it).
    Submission.objects.filter(pk=submission.pk).update(settled_at=F("settled_at") - timedelta(days=3))
    CommissionDay.objects.update(day=F("day") - timedelta(days=3))
    assert_rollup_matches_submissions()

    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=then)

    day = timezone.localdate(Submission.objects.get(pk=submission.pk).settled_at)
    assert day == timezone.localdate() - timedelta(days=3)
    expected = {}
    if farmer_side:
        expected = {
            (world.farmer_amb, day, world.usdc): (farmer_side, 0),
            (world.factory_amb, day, world.usdc): (0, factory_side),
        }
    assert stored() == expected
    assert_rollup_matches_submissions()


def test_the_ledger_audit_reports_a_rollup_that_differs_from_the_submissions(world):
    settle(world.factory, world.farmer, "1")
    assert ledger_audit().ok

    CommissionDay.objects.filter(user_id=world.farmer_amb).update(farmer_side=F("farmer_side") + 1)

    report = ledger_audit()
    assert not report.ok
    assert report.mismatches == [
        f"commission rollup of user {world.farmer_amb} on {timezone.localdate()} in token {world.usdc}: "
        "stores (6001, 0), settled submissions sum to (6000, 0) (farmer side, factory side)"
    ]


def test_a_missing_rollup_row_is_reported_and_a_rebuild_repairs_the_rollup(world):
    settle(world.factory, world.farmer, "1")
    written = stored()
    CommissionDay.objects.filter(user_id=world.factory_amb).delete()
    CommissionDay.objects.filter(user_id=world.farmer_amb).update(farmer_side=7)

    assert len(audit_commission_rollup()) == 2

    assert commission_rollup_rebuild() == 2
    assert stored() == written
    assert_rollup_matches_submissions()


def test_the_migration_backfills_what_settlement_wrote(world, monkeypatch):
    settle(world.factory, world.farmer, "1")
    # One more, settled 40 days ago (settle_rows stamps `settled_at` from its clock).
    real_now = timezone.now
    monkeypatch.setattr(settlement_module, "timezone", SimpleNamespace(now=lambda: real_now() - timedelta(days=40)))
    settle(funded_factory(world.creator, token="SOL", reward="0.5", deposit="1"), world.farmer, "0.9")
    monkeypatch.undo()
    written = stored()
    assert len(written) == 4  # two ambassadors x (today in USDC, 40 days ago in SOL)

    CommissionDay.objects.all().delete()
    migration = importlib.import_module("referrals.migrations.0005_commission_day_backfill")
    migration.backfill(apps, SimpleNamespace(connection=connection))

    assert stored() == written
    assert_rollup_matches_submissions()


def test_changes_that_cancel_out_in_a_batch_write_nothing(world):
    today = timezone.now()
    rows = [
        SettledCommission(
            pk=pk,
            factory_id=world.factory.pk,
            settled_at=today,
            farmer_ambassador_id=world.farmer_amb,
            farmer_ambassador_commission=amount,
            factory_ambassador_id=None,
            factory_ambassador_commission=None,
        )
        for pk, amount in ((1, 500), (2, 0))
    ]

    commission_rollup_add(rows, token_ids={world.factory.pk: world.usdc}, before={1: (500, 0)})

    assert not CommissionDay.objects.exists()
    commission_rollup_add(rows, token_ids={world.factory.pk: world.usdc})
    assert CommissionDay.objects.get().farmer_side == 500
    assert CommissionDay.objects.get().factory_side == 0


def test_the_dashboard_totals_all_days_and_charts_the_last_thirty(world, monkeypatch):
    from referrals.models import Ambassador
    from web.ambassador import commission_summary

    settle(world.factory, world.farmer, "1")  # today: 6000 farmer side
    real_now = timezone.now
    monkeypatch.setattr(settlement_module, "timezone", SimpleNamespace(now=lambda: real_now() - timedelta(days=40)))
    settle(world.factory, world.farmer, "0.5")  # 40 days ago: 3000
    monkeypatch.setattr(settlement_module, "timezone", SimpleNamespace(now=lambda: real_now() - timedelta(days=29)))
    settle(world.factory, world.farmer, "0.9")  # 29 days ago, the chart's first day: 5400
    monkeypatch.undo()

    totals, charts = commission_summary(Ambassador.objects.get(user_id=world.farmer_amb))

    assert [(row["token"].symbol, row["total"]) for row in totals] == [("USDC", 14_400)]
    (chart,) = charts
    assert len(chart.rows) == 30
    assert (chart.rows[0][1], chart.rows[-1][1]) == ("0.0054", "0.006")
    assert [row[1] for row in chart.rows[1:-1]] == ["0"] * 28
