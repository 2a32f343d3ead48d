"""Every staff action that moves money or changes someone's standing is in the staff audit
trail (audit.models.StaffAction): who, when, what, before and after, and why. The record is
written in the same transaction as the change, the trail is read-only in the admin and
append-only in PostgreSQL, and money rows cannot be deleted from the admin."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import DatabaseError, transaction
from django.test import RequestFactory
from django.urls import reverse

from accounts.models import Withdrawal
from accounts.services import withdrawal_request
from audit.models import StaffAction
from chain.models import ChainTransfer, DepositIntent, EvmPayout, SolanaPayout
from ledger.models import Account, Entry, Transaction
from pools.models import Bonus, Claim, Deposit, Factory, Flag, ScoreOverride, Submission
from pools.services.claims import claim_create
from pools.services.deposits import deposit_create
from pools.services.factories import factory_force_close
from referrals.models import Ambassador, CommissionTier, Unstake
from referrals.services import ambassador_create
from reviews.models import HeldSubmission
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, withdrawal_wallet
from tests.farmers.helpers import settle, submit
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def only_action(action: str) -> StaffAction:
    rows = list(StaffAction.objects.filter(action=action))
    assert len(rows) == 1, rows
    return rows[0]


@pytest.fixture
def pending_deposit(settings, creator):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    factory = funded_factory(creator, deposit=None)
    return deposit_create(factory=factory, actor=creator, amount="1.5", tx_ref="sig-audit-1")


def test_a_deposit_confirmed_by_staff_through_the_api_is_recorded(pending_deposit, staff, as_user):
    response = as_user(staff).post(f"/api/v1/deposits/{pending_deposit.pk}/confirm/")

    assert response.status_code == 200
    record = only_action(StaffAction.Action.DEPOSIT_CONFIRM)
    assert record.actor == staff
    assert (record.object_type, record.object_id) == ("pools.deposit", str(pending_deposit.pk))
    assert record.before["status"] == "pending"
    assert record.after["status"] == "confirmed"
    assert record.after["amount"] == "1.500000"
    assert record.after["ledger_transaction"] == Deposit.objects.get(pk=pending_deposit.pk).ledger_transaction_id
    assert record.created_at is not None


def test_confirming_twice_records_once(pending_deposit, staff, as_user):
    client = as_user(staff)
    client.post(f"/api/v1/deposits/{pending_deposit.pk}/confirm/")
    client.post(f"/api/v1/deposits/{pending_deposit.pk}/confirm/")

    assert StaffAction.objects.filter(action=StaffAction.Action.DEPOSIT_CONFIRM).count() == 1


def test_automatic_confirmation_is_not_a_staff_action(creator):
    funded_factory(creator)  # FORGE_DEPOSITS_AUTOCONFIRM is on in tests

    assert not StaffAction.objects.exists()


def test_a_deposit_rejected_in_the_admin_is_recorded(pending_deposit, admin_client, staff):
    admin_client.post(
        reverse("admin:pools_deposit_changelist"),
        {"action": "reject_selected", ACTION_CHECKBOX_NAME: [pending_deposit.pk]},
    )

    record = only_action(StaffAction.Action.DEPOSIT_REJECT)
    assert record.actor == staff
    assert (record.before["status"], record.after["status"]) == ("pending", "rejected")


@pytest.fixture
def withdrawal(creator):
    farmer = FarmerFactory()
    factory = funded_factory(creator, reward="0.2")
    settle(factory, farmer, "0.9")  # 0.162 USDC to the farmer
    return withdrawal_request(user=farmer, token=factory.token, amount="0.1", address=withdrawal_wallet(farmer))


def test_a_withdrawal_marked_sent_in_the_admin_is_recorded(withdrawal, admin_client, staff):
    admin_client.post(
        reverse("admin:accounts_withdrawal_changelist"),
        {
            "action": "mark_sent",
            ACTION_CHECKBOX_NAME: [withdrawal.pk],
            "apply": "1",
            f"w{withdrawal.pk}-chain_ref": "5xSig",
        },
    )

    record = only_action(StaffAction.Action.WITHDRAWAL_SENT)
    assert record.actor == staff
    assert record.object_id == str(withdrawal.pk)
    assert (record.before["status"], record.after["status"]) == ("pending", "sent")
    assert record.after["chain_ref"] == "5xSig"
    assert record.after["amount"] == "0.100000"


def test_a_withdrawal_rejected_in_the_admin_is_recorded_with_the_reason(withdrawal, admin_client, staff):
    admin_client.post(
        reverse("admin:accounts_withdrawal_changelist"),
        {"action": "reject_and_return", ACTION_CHECKBOX_NAME: [withdrawal.pk], "apply": "1", "reason": "Sanctioned"},
    )

    record = only_action(StaffAction.Action.WITHDRAWAL_REJECT)
    assert (record.before["status"], record.after["status"]) == ("pending", "rejected")
    assert record.reason == "Sanctioned"
    assert_audit_clean()


def test_a_staff_score_override_after_settlement_is_recorded_with_the_money_before_and_after(
    creator, staff, as_user, grader
):
    submission = settle(funded_factory(creator, reward="0.2"), FarmerFactory(), "0.9")
    before_reward = Submission.objects.get(pk=submission.pk).farmer_reward
    overrides_so_far = StaffAction.objects.filter(action=StaffAction.Action.SCORE_OVERRIDE).count()

    response = as_user(staff).post(
        f"/api/v1/submissions/{submission.pk}/review/",
        {"quality_score": "0.6", "reason": "Missed a step"},
        format="json",
    )

    assert response.status_code == 200
    record = StaffAction.objects.filter(action=StaffAction.Action.SCORE_OVERRIDE).first()
    assert StaffAction.objects.filter(action=StaffAction.Action.SCORE_OVERRIDE).count() == overrides_so_far + 1
    assert record.actor == staff
    assert Decimal(record.before["quality_score"]) == Decimal("0.9")
    assert Decimal(record.after["quality_score"]) == Decimal("0.6")
    assert record.before["farmer_reward"] == before_reward
    assert record.after["farmer_reward"] < before_reward
    assert record.after["score_override"] == ScoreOverride.objects.latest("pk").pk
    assert record.reason == "Missed a step"
    assert_audit_clean()


def test_the_grading_services_reviews_are_kept_as_score_overrides_not_staff_actions(creator, grader, as_user):
    submission = submit(funded_factory(creator), FarmerFactory())

    response = as_user(grader).post(f"/api/v1/submissions/{submission.pk}/review/", {"quality_score": "0.8"})

    assert response.status_code == 200
    assert ScoreOverride.objects.filter(submission=submission, reviewed_by=grader).exists()
    assert not StaffAction.objects.filter(action=StaffAction.Action.SCORE_OVERRIDE).exists()


def test_a_tier_set_by_staff_through_the_api_is_recorded(staff, as_user):
    ambassador, _ = ambassador_create(user=FarmerFactory())

    response = as_user(staff).patch(f"/api/v1/ambassadors/{ambassador.code}/", {"tier": 4}, format="json")

    assert response.status_code == 200
    record = only_action(StaffAction.Action.AMBASSADOR_TIER)
    assert record.actor == staff
    assert record.before == {"tier": 0, "tier_override": None, "stake_tier": 0}
    assert record.after == {"tier": 4, "tier_override": 4, "stake_tier": 0}


def test_a_tier_table_change_in_the_admin_is_recorded(admin_client, staff):
    tier = CommissionTier.objects.get(tier=2)

    response = admin_client.post(
        reverse("admin:referrals_commissiontier_change", args=[tier.pk]),
        {"commission_rate": "0.025", "stake_threshold": "2500000"},
    )

    assert response.status_code == 302, response.content[:2000]
    record = only_action(StaffAction.Action.COMMISSION_TIER)
    assert record.actor == staff
    assert Decimal(record.before["commission_rate"]) == Decimal("0.02")
    assert Decimal(record.after["commission_rate"]) == Decimal("0.025")
    assert Decimal(record.after["stake_threshold"]) == Decimal(2_500_000)


def test_staff_force_close_a_factory_in_the_admin_with_a_reason(admin_client, staff, creator):
    factory = funded_factory(creator, reward="0.2", deposit="3")
    claim_create(factory=factory, farmer=FarmerFactory())  # 0.2 stays reserved for the open claim
    changelist = reverse("admin:pools_factory_changelist")

    asked = admin_client.post(changelist, {"action": "force_close_selected", ACTION_CHECKBOX_NAME: [factory.pk]})
    assert asked.status_code == 200
    assert b"Reason" in asked.content
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE  # nothing yet

    admin_client.post(
        changelist,
        {"action": "force_close_selected", ACTION_CHECKBOX_NAME: [factory.pk], "apply": "1", "reason": "Phishing task"},
    )

    factory.refresh_from_db()
    assert factory.status == Factory.Status.CLOSED
    record = only_action(StaffAction.Action.FACTORY_FORCE_CLOSE)
    assert record.actor == staff
    assert record.reason == "Phishing task"
    assert record.before == {
        "status": "active",
        "token": "USDC",
        "available": "2.800000",
        "reserved": "0.200000",
        "returned_to_creator": "0.000000",
        "in_flight_count": 1,
    }
    assert record.after["status"] == "closed"
    assert record.after["available"] == "0.000000"
    assert record.after["returned_to_creator"] == "2.800000"
    assert_audit_clean()


def test_force_close_needs_staff_and_a_reason_and_changes_nothing_otherwise(creator):
    from django.core.exceptions import ValidationError

    from core.exceptions import Conflict, Forbidden

    factory = funded_factory(creator)
    with pytest.raises(Forbidden):
        factory_force_close(factory=factory, actor=CreatorFactory(), reason="mine now")
    with pytest.raises(Forbidden):
        factory_force_close(factory=factory, actor=creator, reason="the owner is not staff")
    with pytest.raises(ValidationError):
        factory_force_close(factory=factory, actor=StaffFactory(), reason="  ")
    factory.refresh_from_db()
    assert factory.status == Factory.Status.ACTIVE
    assert not StaffAction.objects.exists()

    factory_force_close(factory=factory, actor=StaffFactory(), reason="abuse")
    with pytest.raises(Conflict):
        factory_force_close(factory=factory, actor=StaffFactory(), reason="again")
    assert StaffAction.objects.count() == 1


def test_staff_running_another_creators_factory_is_recorded_and_the_owner_is_not(creator, staff):
    from pools.services.factories import (
        factory_close,
        factory_pause,
        factory_rate_change,
        factory_resume,
        factory_update,
    )

    factory = funded_factory(creator)
    factory_update(factory=factory, actor=creator, title="Mine")
    factory_pause(factory=factory, actor=creator)
    factory_resume(factory=factory, actor=creator)
    assert not StaffAction.objects.exists()

    factory_update(factory=factory, actor=staff, title="Fixed typo", expected_minutes=factory.expected_minutes)
    factory_rate_change(factory=factory, reward="0.75", actor=staff)
    factory_pause(factory=factory, actor=staff)
    factory_resume(factory=factory, actor=staff)
    factory_close(factory=factory, actor=staff)

    edit = only_action(StaffAction.Action.FACTORY_UPDATE)
    assert (edit.actor, edit.before, edit.after) == (staff, {"title": "Mine"}, {"title": "Fixed typo"})
    rate = only_action(StaffAction.Action.FACTORY_RATE_CHANGE)
    assert rate.after == {"reward": "0.750000"} and rate.before != rate.after
    assert only_action(StaffAction.Action.FACTORY_PAUSE).after == {"status": "paused"}
    assert only_action(StaffAction.Action.FACTORY_RESUME).after == {"status": "active"}
    close = only_action(StaffAction.Action.FACTORY_CLOSE)
    assert (close.before["status"], close.after["status"]) == ("active", "closed")
    assert close.after["available"] == "0.000000"
    assert_audit_clean()


def test_the_record_and_the_change_commit_together(pending_deposit, staff, monkeypatch):
    """If the record cannot be written, the confirmation is rolled back with it."""
    from pools.services import deposits

    def broken(**kwargs):
        raise DatabaseError("audit trail unavailable")

    monkeypatch.setattr(deposits, "staff_action_record", broken)
    entries = Entry.objects.count()

    with pytest.raises(DatabaseError):
        deposits.deposit_confirm(deposit=pending_deposit, actor=staff)

    assert Deposit.objects.get(pk=pending_deposit.pk).status == Deposit.Status.PENDING
    assert Entry.objects.count() == entries
    assert_audit_clean()


def test_the_trail_is_read_only_in_the_admin(admin_client, pending_deposit, staff):
    from pools.services.deposits import deposit_confirm

    deposit_confirm(deposit=pending_deposit, actor=staff)
    record = StaffAction.objects.get()
    model_admin = admin.site._registry[StaffAction]
    request = RequestFactory().get("/")
    request.user = staff

    assert admin_client.get(reverse("admin:audit_staffaction_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:audit_staffaction_change", args=[record.pk]))
    assert page.status_code == 200
    assert b"pending" in page.content and b"confirmed" in page.content
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, record)
    assert not model_admin.has_delete_permission(request, record)
    assert admin_client.get(reverse("admin:audit_staffaction_add")).status_code == 403
    assert (
        admin_client.post(reverse("admin:audit_staffaction_delete", args=[record.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert "delete_selected" not in model_admin.get_actions(request)
    assert StaffAction.objects.filter(pk=record.pk).exists()


def test_postgresql_refuses_to_edit_or_delete_a_record(pending_deposit, staff):
    from pools.services.deposits import deposit_confirm

    deposit_confirm(deposit=pending_deposit, actor=staff)
    record = StaffAction.objects.get()

    for change in (
        lambda: StaffAction.objects.filter(pk=record.pk).update(reason="covered up"),
        lambda: StaffAction.objects.filter(pk=record.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            change()
    assert StaffAction.objects.get(pk=record.pk).reason == ""


# Every model whose rows are money records (amounts, ledger postings) or the trail itself.
MONEY_MODELS = [
    Transaction,
    Entry,
    Account,
    Deposit,
    Claim,
    Submission,
    Factory,
    Withdrawal,
    Unstake,
    StaffAction,
    DepositIntent,
    ChainTransfer,
    Bonus,
    Flag,
    EvmPayout,
    SolanaPayout,
    HeldSubmission,  # the admin review queue's view of submissions
]


def _admins_of(model, request):
    """The model's own admin and every inline showing its rows inside another admin."""
    found = []
    if model in admin.site._registry:
        found.append(admin.site._registry[model])
    for parent in admin.site._registry.values():
        found.extend(inline for inline in parent.get_inline_instances(request) if inline.model is model)
    return found


@pytest.mark.parametrize("model", MONEY_MODELS, ids=lambda model: model._meta.label)
def test_money_rows_cannot_be_deleted_from_the_admin(model, staff):
    request = RequestFactory().get("/")
    request.user = staff  # a superuser: only the admin class can refuse
    admins = _admins_of(model, request)
    assert admins, f"{model._meta.label} is not shown in the admin"

    for model_admin in admins:
        if isinstance(model_admin, admin.options.InlineModelAdmin):
            # Django offers an inline's delete box only when both allow it.
            assert not (model_admin.can_delete and model_admin.has_delete_permission(request)), model_admin
            continue
        assert model_admin.has_delete_permission(request) is False, model_admin
        assert model_admin.has_delete_permission(request, model()) is False, model_admin
        assert "delete_selected" not in model_admin.get_actions(request)


def test_every_registered_model_holding_amounts_is_in_the_money_list():
    """A new admin for a model with an amount column must be added above (and refuse deletes)."""
    from ledger.fields import AmountField

    holding_amounts = {
        model
        for model in admin.site._registry
        if any(isinstance(field, AmountField) for field in model._meta.get_fields() if hasattr(field, "column"))
    }
    assert holding_amounts - set(MONEY_MODELS) == set()


def test_ambassadors_stay_too(staff):
    request = RequestFactory().get("/")
    request.user = staff
    assert admin.site._registry[Ambassador].has_delete_permission(request) is False
