"""Withdrawals end to end with a clean ledger audit: a user requests one, staff mark it sent
(with the chain reference) or reject it (the funds return) in the admin; bad requests move
nothing. The same for an ambassador's commissions."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.urls import reverse

from accounts.models import Withdrawal
from accounts.services import wallet_address_validate, withdrawal_mark_sent, withdrawal_reject, withdrawal_request
from core.exceptions import Conflict, Forbidden
from ledger.models import Account, Token
from ledger.services import InsufficientFunds
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:accounts_withdrawal_changelist")
SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"


def usdc() -> Token:
    return Token.objects.get(symbol="USDC")


def balances(user, symbol: str = "USDC") -> dict[str, int]:
    rows = dict(Account.objects.filter(holder=f"user:{user.pk}", token__symbol=symbol).values_list("kind", "balance"))
    return {
        "available": int(rows.get(Account.Kind.USER_BALANCE, 0)),
        "pending": int(rows.get(Account.Kind.USER_PENDING_WITHDRAWAL, 0)),
    }


def withdrawn(symbol: str = "USDC") -> int:
    account = Account.objects.filter(kind=Account.Kind.WORLD_WITHDRAWALS, token__symbol=symbol).first()
    return account.balance if account else 0


@pytest.fixture
def paid_farmer(creator):
    farmer = FarmerFactory()
    settle(funded_factory(creator, reward="0.2"), farmer, "0.9")  # 0.162 USDC to the farmer
    return farmer


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def run_action(admin_client, action: str, withdrawals, **extra):
    """Choose the action in the changelist; with `extra` fields, confirm the intermediate page."""
    data = {"action": action, ACTION_CHECKBOX_NAME: [w.pk for w in withdrawals], **extra}
    if extra:
        data["apply"] = "1"
    return admin_client.post(CHANGELIST, data)


def test_mark_sent_asks_for_the_chain_reference_then_sends_the_money_out(admin_client, paid_farmer, staff):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.1", address=withdrawal_wallet(paid_farmer)
    )
    assert balances(paid_farmer) == {"available": 62_000, "pending": 100_000}

    confirm = run_action(admin_client, "mark_sent", [withdrawal])
    assert confirm.status_code == 200
    assert f'name="w{withdrawal.pk}-chain_ref"' in confirm.content.decode()
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == Withdrawal.Status.PENDING  # not yet

    done = run_action(admin_client, "mark_sent", [withdrawal], **{f"w{withdrawal.pk}-chain_ref": "5sig-abc"})

    assert done.status_code == 302
    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.chain_ref, withdrawal.processed_by) == ("sent", "5sig-abc", staff)
    assert balances(paid_farmer) == {"available": 62_000, "pending": 0}
    assert withdrawn() == 100_000
    assert_audit_clean()


def test_mark_sent_without_a_chain_reference_changes_nothing(admin_client, paid_farmer):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.1", address=withdrawal_wallet(paid_farmer)
    )

    response = run_action(admin_client, "mark_sent", [withdrawal], **{f"w{withdrawal.pk}-chain_ref": "  "})

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    withdrawal.refresh_from_db()
    assert withdrawal.status == Withdrawal.Status.PENDING
    assert withdrawn() == 0
    assert_audit_clean()


def test_reject_returns_the_funds_to_the_balance(admin_client, paid_farmer, staff):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.162", address=withdrawal_wallet(paid_farmer)
    )
    assert balances(paid_farmer) == {"available": 0, "pending": 162_000}

    confirm = run_action(admin_client, "reject_and_return", [withdrawal])
    assert 'name="reason"' in confirm.content.decode()
    run_action(admin_client, "reject_and_return", [withdrawal], reason="Address is on a sanctions list")

    withdrawal.refresh_from_db()
    assert (withdrawal.status, withdrawal.reject_reason) == ("rejected", "Address is on a sanctions list")
    assert withdrawal.processed_by == staff
    assert balances(paid_farmer) == {"available": 162_000, "pending": 0}
    assert withdrawn() == 0
    assert_audit_clean()


def test_processed_withdrawals_are_skipped_and_never_processed_twice(admin_client, paid_farmer, staff):
    sent = withdrawal_request(user=paid_farmer, token=usdc(), amount="0.05", address=withdrawal_wallet(paid_farmer))
    withdrawal_mark_sent(withdrawal=sent, chain_ref="sig-1", actor=staff)

    response = run_action(admin_client, "reject_and_return", [sent], reason="too late")

    assert "skipped: already processed" in admin_client.get(response["Location"]).content.decode()
    sent.refresh_from_db()
    assert sent.status == Withdrawal.Status.SENT
    with pytest.raises(Conflict):
        withdrawal_reject(withdrawal=sent, reason="again", actor=staff)
    assert withdrawn() == 50_000
    assert_audit_clean()


def test_insufficient_balance_moves_nothing(paid_farmer):
    with pytest.raises(InsufficientFunds):
        withdrawal_request(user=paid_farmer, token=usdc(), amount="0.163", address=withdrawal_wallet(paid_farmer))

    assert not Withdrawal.objects.exists()
    assert balances(paid_farmer) == {"available": 162_000, "pending": 0}
    assert_audit_clean()


def test_only_staff_process_withdrawals(paid_farmer):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.1", address=withdrawal_wallet(paid_farmer)
    )

    with pytest.raises(Forbidden):
        withdrawal_mark_sent(withdrawal=withdrawal, chain_ref="sig", actor=paid_farmer)
    with pytest.raises(Forbidden):
        withdrawal_reject(withdrawal=withdrawal, reason="no", actor=paid_farmer)
    assert Withdrawal.objects.get(pk=withdrawal.pk).status == Withdrawal.Status.PENDING


def test_withdrawals_cannot_be_added_edited_or_deleted_in_the_admin(admin_client, paid_farmer):
    withdrawal = withdrawal_request(
        user=paid_farmer, token=usdc(), amount="0.1", address=withdrawal_wallet(paid_farmer)
    )

    changelist = admin_client.get(CHANGELIST).content.decode()
    change = admin_client.get(reverse("admin:accounts_withdrawal_change", args=[withdrawal.pk]))

    assert "delete_selected" not in changelist
    assert "0.1 USDC" in changelist
    assert admin_client.get(reverse("admin:accounts_withdrawal_add")).status_code == 403
    assert admin_client.get(reverse("admin:accounts_withdrawal_delete", args=[withdrawal.pk])).status_code == 403
    assert change.status_code == 200
    assert 'name="address"' not in change.content.decode()  # read-only
    assert Withdrawal.objects.filter(pk=withdrawal.pk).exists()


def test_an_ambassadors_commission_is_withdrawn_and_sent_the_same_way(admin_client, staff):
    ambassador = ambassador_create(user=FarmerFactory())[0]
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    farmer = FarmerFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    settle(funded_factory(CreatorFactory(), reward="0.2"), farmer, "1")  # 5% of 0.2 = 0.01 USDC
    assert balances(ambassador.user) == {"available": 10_000, "pending": 0}

    with pytest.raises(InsufficientFunds):
        withdrawal_request(
            user=ambassador.user, token=usdc(), amount="0.010001", address=withdrawal_wallet(ambassador.user)
        )
    withdrawal = withdrawal_request(
        user=ambassador.user, token=usdc(), amount="0.01", address=withdrawal_wallet(ambassador.user)
    )
    run_action(admin_client, "mark_sent", [withdrawal], **{f"w{withdrawal.pk}-chain_ref": "sig-amb"})

    assert Withdrawal.objects.get(pk=withdrawal.pk).status == Withdrawal.Status.SENT
    assert balances(ambassador.user) == {"available": 0, "pending": 0}
    assert withdrawn() == 10_000
    assert_audit_clean()


def test_an_ambassadors_rejected_withdrawal_returns_the_commission(admin_client, staff):
    ambassador = ambassador_create(user=CreatorFactory())[0]
    ambassador_set_tier(ambassador=ambassador, tier=3, actor=staff)
    creator = CreatorFactory()
    referral_attach(user=creator, ambassador=ambassador)
    settle(funded_factory(creator, reward="0.2"), FarmerFactory(), "1")  # factory side: 3% of 0.2 = 0.006
    withdrawal = withdrawal_request(
        user=ambassador.user, token=usdc(), amount="0.006", address=withdrawal_wallet(ambassador.user)
    )

    run_action(admin_client, "reject_and_return", [withdrawal], reason="Wrong chain")

    assert balances(ambassador.user) == {"available": 6_000, "pending": 0}
    assert_audit_clean()


def test_the_user_admin_shows_and_filters_by_role(admin_client, paid_farmer):
    changelist = admin_client.get(reverse("admin:accounts_user_changelist"), {"role__exact": "farmer"})
    change = admin_client.get(reverse("admin:accounts_user_change", args=[paid_farmer.pk]))

    assert paid_farmer.username in changelist.content.decode()
    assert change.status_code == 200
    assert 'name="role"' in change.content.decode()


@pytest.mark.parametrize(
    ("symbol", "address"),
    [
        ("USDC", SOLANA_ADDRESS),
        ("SOL", "So11111111111111111111111111111111111111112"),
        ("CLONES", "11111111111111111111111111111111"),
        ("ETH", "0x52908400098527886E0F7030069857D2E4169EE7"),
        ("ETH", "0xde709f2102306220921060314715629080e2fb77"),
    ],
)
def test_addresses_are_checked_for_the_tokens_chain(symbol, address):
    assert wallet_address_validate(Token.objects.get(symbol=symbol), f"  {address} ") == address


@pytest.mark.parametrize(
    ("symbol", "address", "message"),
    [
        ("USDC", "0x52908400098527886E0F7030069857D2E4169EE7", "needs a Solana address"),
        ("SOL", "0OIl" + "1" * 40, "needs a Solana address"),  # 0, O, I and l are not base58
        ("CLONES", "abc", "needs a Solana address"),
        ("ETH", SOLANA_ADDRESS, "needs an EVM address"),
        ("ETH", "0x" + "g" * 40, "needs an EVM address"),
        ("ETH", "0x" + "a" * 39, "needs an EVM address"),
    ],
)
def test_a_wrong_address_for_the_chain_is_refused_and_moves_nothing(paid_farmer, symbol, address, message):
    with pytest.raises(ValidationError) as error:
        withdrawal_request(user=paid_farmer, token=Token.objects.get(symbol=symbol), amount="0.1", address=address)

    assert message in error.value.message_dict["address"][0]
    assert not Withdrawal.objects.exists()
    assert balances(paid_farmer) == {"available": 162_000, "pending": 0}


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "greater than zero"),
        ("-0.1", "cannot be negative"),
        ("0.0000001", "At most 6 decimal places"),
        ("", "An amount is required."),
        (0.1, "decimal string"),
    ],
)
def test_zero_negative_and_over_precise_amounts_are_refused_and_move_nothing(paid_farmer, amount, message):
    with pytest.raises(ValidationError) as error:
        withdrawal_request(user=paid_farmer, token=usdc(), amount=amount, address=withdrawal_wallet(paid_farmer))

    assert message in error.value.message_dict["amount"][0]
    assert not Withdrawal.objects.exists()
    assert balances(paid_farmer) == {"available": 162_000, "pending": 0}
    assert_audit_clean()
