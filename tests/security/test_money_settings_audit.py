"""Staff money settings (the economics settings, tokens, commission tiers) change only through
their services, each change with exactly one staff audit record holding the values before and
after, written in the same transaction: a refused change writes nothing, a save that changes
nothing records nothing, and nobody but staff can change them (admin or service)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from audit.models import StaffAction
from core.exceptions import Forbidden
from ledger.models import Token
from ledger.tokens import token_create, token_update
from pools.models import EconomicsConfig
from pools.services.economics import economics_config_update
from referrals.models import CommissionTier
from referrals.services import commission_tier_update
from tests.factories import CreatorFactory, FarmerFactory

pytestmark = pytest.mark.django_db

ECONOMICS_URL = "/admin/pools/economicsconfig/1/change/"
DEFAULT_ECONOMICS = {
    "platform_fee_rate": "0.10",
    "quality_threshold": "0.5",
    "default_claim_timeout_minutes": "60",
    "unstake_cooldown_hours": "72",
}


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(params=["creator", "farmer"])
def non_staff_client(request):
    user = CreatorFactory() if request.param == "creator" else FarmerFactory()
    client = Client()
    client.force_login(user)
    return client


def the_record(action: str) -> StaffAction:
    rows = list(StaffAction.objects.filter(action=action))
    assert len(rows) == 1, rows
    assert StaffAction.objects.count() == 1, list(StaffAction.objects.all())
    return rows[0]


def economics_values() -> tuple:
    config = EconomicsConfig.objects.get(pk=1)
    return (
        config.platform_fee_rate,
        config.quality_threshold,
        config.default_claim_timeout_minutes,
        config.unstake_cooldown_hours,
    )


def usdc_state() -> tuple:
    return tuple(Token.objects.filter(symbol="USDC").values_list("name", "decimals", "chain", "enabled").get())


def tier_state() -> list:
    return list(CommissionTier.objects.order_by("tier").values_list("tier", "commission_rate", "stake_threshold"))


# ---- Economics settings ----------------------------------------------------------------------


def test_an_economics_change_in_the_admin_writes_one_record_with_before_and_after(admin_client, staff):
    response = admin_client.post(
        ECONOMICS_URL, {**DEFAULT_ECONOMICS, "platform_fee_rate": "0.12", "unstake_cooldown_hours": "48"}
    )

    assert response.status_code == 302, response.content[:2000]
    assert economics_values() == (Decimal("0.12"), Decimal("0.5"), 60, 48)
    record = the_record(StaffAction.Action.ECONOMICS_UPDATE)
    assert record.actor == staff
    assert (record.object_type, record.object_id) == ("pools.economicsconfig", "1")
    assert Decimal(record.before["platform_fee_rate"]) == Decimal("0.10")
    assert Decimal(record.after["platform_fee_rate"]) == Decimal("0.12")
    assert (record.before["unstake_cooldown_hours"], record.after["unstake_cooldown_hours"]) == (72, 48)
    assert Decimal(record.before["quality_threshold"]) == Decimal(record.after["quality_threshold"]) == Decimal("0.5")
    assert record.before["default_claim_timeout_minutes"] == record.after["default_claim_timeout_minutes"] == 60


def test_an_economics_save_without_changes_records_nothing(admin_client):
    response = admin_client.post(ECONOMICS_URL, DEFAULT_ECONOMICS)

    assert response.status_code == 302
    assert not StaffAction.objects.exists()


@pytest.mark.parametrize(
    "change",
    [
        {"platform_fee_rate": "0.09"},  # cannot cover two top-tier (5%) commissions
        {"quality_threshold": "1.5"},  # above 1
        {"default_claim_timeout_minutes": "-1"},
    ],
)
def test_a_refused_economics_change_in_the_admin_writes_nothing(admin_client, change):
    before = economics_values()

    response = admin_client.post(ECONOMICS_URL, {**DEFAULT_ECONOMICS, **change})

    assert response.status_code == 200  # the form again, with the error
    assert response.context["adminform"].form.errors
    assert economics_values() == before
    assert not StaffAction.objects.exists()


def test_the_economics_service_refuses_what_the_tiers_forbid_and_writes_nothing(staff):
    before = economics_values()

    with pytest.raises(ValidationError) as error:
        economics_config_update(
            actor=staff,
            platform_fee_rate=Decimal("0.09"),
            quality_threshold=Decimal("0.5"),
            default_claim_timeout_minutes=60,
            unstake_cooldown_hours=72,
        )

    assert "platform fee (9.00%)" in error.value.message_dict["platform_fee_rate"][0]
    assert economics_values() == before
    assert not StaffAction.objects.exists()


def test_non_staff_cannot_change_the_economics_settings_in_the_admin(non_staff_client):
    before = economics_values()

    response = non_staff_client.post(ECONOMICS_URL, {**DEFAULT_ECONOMICS, "platform_fee_rate": "0.2"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert economics_values() == before
    assert not StaffAction.objects.exists()


def test_the_economics_service_refuses_non_staff(creator):
    with pytest.raises(Forbidden):
        economics_config_update(
            actor=creator,
            platform_fee_rate=Decimal("0.2"),
            quality_threshold=Decimal("0.5"),
            default_claim_timeout_minutes=60,
            unstake_cooldown_hours=72,
        )

    assert economics_values()[0] == Decimal("0.10")
    assert not StaffAction.objects.exists()


# ---- Tokens ----------------------------------------------------------------------------------

NEW_TOKEN = {"symbol": "BONK", "name": "Bonk", "decimals": "5", "chain": "solana", "enabled": "on"}


def test_a_token_added_in_the_admin_writes_one_record_with_its_values(admin_client, staff):
    response = admin_client.post(reverse("admin:ledger_token_add"), NEW_TOKEN)

    assert response.status_code == 302, response.content[:2000]
    token = Token.objects.get(symbol="BONK")
    record = the_record(StaffAction.Action.TOKEN_CREATE)
    assert (record.actor, record.object_type, record.object_id) == (staff, "ledger.token", str(token.pk))
    assert record.before == {}
    assert record.after == {"symbol": "BONK", "name": "Bonk", "decimals": 5, "chain": "solana", "enabled": True}


def test_a_token_change_in_the_admin_writes_one_record_with_before_and_after(admin_client, staff):
    usdc = Token.objects.get(symbol="USDC")

    response = admin_client.post(
        reverse("admin:ledger_token_change", args=[usdc.pk]), {"name": "USD Coin (Solana)", "chain": "solana"}
    )

    assert response.status_code == 302, response.content[:2000]
    assert usdc_state() == ("USD Coin (Solana)", 6, "solana", False)
    record = the_record(StaffAction.Action.TOKEN_UPDATE)
    assert (record.actor, record.object_id) == (staff, str(usdc.pk))
    assert record.before == {"symbol": "USDC", "name": "USD Coin", "decimals": 6, "chain": "solana", "enabled": True}
    assert record.after == {
        "symbol": "USDC",
        "name": "USD Coin (Solana)",
        "decimals": 6,
        "chain": "solana",
        "enabled": False,
    }


def test_a_token_save_without_changes_records_nothing(admin_client):
    usdc = Token.objects.get(symbol="USDC")

    response = admin_client.post(
        reverse("admin:ledger_token_change", args=[usdc.pk]), {"name": "USD Coin", "chain": "solana", "enabled": "on"}
    )

    assert response.status_code == 302
    assert not StaffAction.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {**NEW_TOKEN, "decimals": "19"},  # more than 18
        {**NEW_TOKEN, "symbol": "USDC"},  # taken
        {**NEW_TOKEN, "chain": "bitcoin"},
    ],
)
def test_a_refused_token_in_the_admin_writes_nothing(admin_client, data):
    count = Token.objects.count()

    response = admin_client.post(reverse("admin:ledger_token_add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Token.objects.count() == count
    assert not StaffAction.objects.exists()


def test_a_refused_token_change_in_the_admin_writes_nothing(admin_client):
    usdc = Token.objects.get(symbol="USDC")
    before = usdc_state()

    response = admin_client.post(reverse("admin:ledger_token_change", args=[usdc.pk]), {"name": "", "chain": "bitcoin"})

    assert response.status_code == 200
    assert usdc_state() == before
    assert not StaffAction.objects.exists()


def test_the_token_services_refuse_invalid_values_and_write_nothing(staff):
    usdc = Token.objects.get(symbol="USDC")
    before = usdc_state()

    with pytest.raises(ValidationError):
        token_update(token=usdc, actor=staff, name="USD Coin", chain="bitcoin", enabled=True)
    with pytest.raises(ValidationError):
        token_create(actor=staff, symbol="WIDE", name="Wide", decimals=19, chain="evm")

    assert usdc_state() == before
    assert not Token.objects.filter(symbol="WIDE").exists()
    assert not StaffAction.objects.exists()


def test_non_staff_cannot_add_or_change_tokens_in_the_admin(non_staff_client):
    usdc = Token.objects.get(symbol="USDC")
    before, count = usdc_state(), Token.objects.count()

    added = non_staff_client.post(reverse("admin:ledger_token_add"), NEW_TOKEN)
    changed = non_staff_client.post(
        reverse("admin:ledger_token_change", args=[usdc.pk]), {"name": "Mine", "chain": "evm"}
    )

    assert added.status_code == changed.status_code == 302
    assert changed["Location"].startswith(reverse("admin:login"))
    assert (usdc_state(), Token.objects.count()) == (before, count)
    assert not StaffAction.objects.exists()


def test_the_token_services_refuse_non_staff(farmer):
    usdc = Token.objects.get(symbol="USDC")

    with pytest.raises(Forbidden):
        token_update(token=usdc, actor=farmer, name="Mine", chain="evm", enabled=False)
    with pytest.raises(Forbidden):
        token_create(actor=farmer, symbol="MINE", name="Mine", decimals=6, chain="evm")

    assert usdc_state() == ("USD Coin", 6, "solana", True)
    assert not Token.objects.filter(symbol="MINE").exists()
    assert not StaffAction.objects.exists()


# ---- Commission tiers ------------------------------------------------------------------------


def test_a_tier_change_in_the_admin_writes_one_record_with_before_and_after(admin_client, staff):
    tier = CommissionTier.objects.get(tier=3)

    response = admin_client.post(
        reverse("admin:referrals_commissiontier_change", args=[tier.pk]),
        {"commission_rate": "0.035", "stake_threshold": "3000000"},
    )

    assert response.status_code == 302, response.content[:2000]
    record = the_record(StaffAction.Action.COMMISSION_TIER)
    assert record.actor == staff
    assert Decimal(record.before["commission_rate"]) == Decimal("0.03")
    assert Decimal(record.after["commission_rate"]) == Decimal("0.035")
    assert Decimal(record.before["stake_threshold"]) == Decimal(record.after["stake_threshold"]) == 3_000_000


def test_a_tier_save_without_changes_records_nothing(admin_client):
    tier = CommissionTier.objects.get(tier=3)

    response = admin_client.post(
        reverse("admin:referrals_commissiontier_change", args=[tier.pk]),
        {"commission_rate": "0.03", "stake_threshold": "3000000"},
    )

    assert response.status_code == 302
    assert not StaffAction.objects.exists()


def test_a_refused_tier_change_in_the_admin_writes_nothing(admin_client):
    tier = CommissionTier.objects.get(tier=3)
    before = tier_state()

    response = admin_client.post(
        reverse("admin:referrals_commissiontier_change", args=[tier.pk]),
        {"commission_rate": "0.06", "stake_threshold": "3000000"},  # two of them exceed the 10% fee
    )

    assert response.status_code == 200
    assert tier_state() == before
    assert not StaffAction.objects.exists()


def test_the_tier_service_refuses_an_invalid_table_and_writes_nothing(staff):
    before = tier_state()

    with pytest.raises(ValidationError):
        commission_tier_update(
            tier=CommissionTier.objects.get(tier=2),
            commission_rate=Decimal("0.02"),
            stake_threshold=Decimal(4_000_000),  # above tier 3's
            actor=staff,
        )

    assert tier_state() == before
    assert not StaffAction.objects.exists()


def test_non_staff_cannot_change_a_tier_in_the_admin_or_the_service(non_staff_client, creator):
    tier = CommissionTier.objects.get(tier=3)
    before = tier_state()

    response = non_staff_client.post(
        reverse("admin:referrals_commissiontier_change", args=[tier.pk]),
        {"commission_rate": "0.035", "stake_threshold": "3000000"},
    )
    with pytest.raises(Forbidden):
        commission_tier_update(
            tier=tier, commission_rate=Decimal("0.035"), stake_threshold=tier.stake_threshold, actor=creator
        )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert tier_state() == before
    assert not StaffAction.objects.exists()
