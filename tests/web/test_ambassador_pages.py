"""The ambassador dashboard (/ambassador/): becoming one, the code and copyable link, who was
referred, commissions per token over time, tier and stake with what the next tier needs,
staking and unstaking CLONES, and withdrawing commissions."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from accounts.models import Withdrawal
from ledger.models import Account
from referrals.models import Ambassador, Unstake
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach, stake
from tests.factories import CreatorFactory, FarmerFactory, UserFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.referrals.conftest import clones_balances, clones_credit, clones_units

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("referrals:dashboard")
SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def member(client):
    user = FarmerFactory(username="ambassador-farmer")
    client.force_login(user)
    return user


@pytest.fixture
def ambassador(member):
    return ambassador_create(user=member)[0]


def test_the_dashboard_is_at_slash_ambassador():
    assert DASHBOARD == "/ambassador/"


def test_visitors_are_sent_to_the_login_page(client):
    response = client.get(DASHBOARD)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_a_user_who_is_not_an_ambassador_sees_the_become_button(client, member):
    page = text(client.get(DASHBOARD))

    assert "Become an ambassador" in page
    assert f'action="{reverse("referrals:become")}"' in page


def test_becoming_an_ambassador_shows_the_code_and_the_absolute_link(client, member):
    response = client.post(reverse("referrals:become"), follow=True)

    ambassador = Ambassador.objects.get(user=member)
    page = text(response)
    assert f"Your referral code is {ambassador.code}" in page
    assert f'value="http://testserver/r/{ambassador.code}"' in page
    assert 'data-copy-target="referral-link"' in page
    assert "/static/js/copy.js" in page


def test_becoming_an_ambassador_twice_keeps_the_same_code(client, ambassador):
    client.post(reverse("referrals:become"))

    assert Ambassador.objects.get(user=ambassador.user).code == ambassador.code


def test_the_copy_script_is_served_from_our_own_static_files(client, ambassador):
    assert finders.find("js/copy.js")
    page = client.get(DASHBOARD).content
    assert re.findall(rb'(?:src|href)="(https?://[^"]+)"', page) == []


def test_creators_can_be_ambassadors_too(client):
    creator = CreatorFactory()
    client.force_login(creator)

    client.post(reverse("referrals:become"))

    assert client.get(DASHBOARD).status_code == 200
    assert Ambassador.objects.filter(user=creator).exists()


def test_the_grading_service_cannot_become_an_ambassador(client):
    client.force_login(UserFactory(role="grader"))

    response = client.post(reverse("referrals:become"), follow=True)

    # The grading service's account has no pages at all (core.middleware); the service
    # (ambassador_create) refuses it too: tests/referrals/test_become_ambassador.py.
    assert response.status_code == 403
    assert not Ambassador.objects.exists()


def test_referred_farmers_and_creators_are_counted_and_listed(client, ambassador):
    farmers = [FarmerFactory(username=f"grower{index}") for index in range(3)]
    creators = [CreatorFactory(username=f"maker{index}") for index in range(2)]
    for user in [*farmers, *creators]:
        referral_attach(user=user, ambassador=ambassador)
    referral_attach(user=FarmerFactory(username="not-mine"), ambassador=ambassador_create(user=UserFactory())[0])

    response = client.get(DASHBOARD)

    page = text(response)
    assert response.context["counts"] == {"farmers": 3, "creators": 2}
    assert "Referred: 3 farmers and 2 creators" in page
    for user in [*farmers, *creators]:
        assert user.username in page
    assert "not-mine" not in page


def test_commissions_are_summed_per_token_and_charted_over_time(client, ambassador, staff):
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)  # 5% of G on each side
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    referral_attach(user=creator, ambassador=ambassador)
    settle(funded_factory(creator, reward="0.2"), farmer, "1")  # G = 0.2: 0.01 on each side
    settle(funded_factory(creator, token="SOL", reward="0.5", deposit="1"), farmer, "0.8")  # G = 0.4: 0.02 each

    response = client.get(DASHBOARD)

    totals = {row["token"].symbol: row["total"] for row in response.context["totals"]}
    assert totals == {"USDC": 20_000, "SOL": 40_000_000}
    page = text(response)
    assert "0.02 USDC" in page
    assert "0.04 SOL" in page
    charts = {chart.chart_id: chart for chart in response.context["charts"]}
    assert set(charts) == {"commissions-usdc", "commissions-sol"}
    assert len(charts["commissions-usdc"].rows) == 30  # one point per day, zeros included
    assert charts["commissions-usdc"].rows[-1][1] == "0.02"  # today
    assert "<svg" in page
    assert 'role="img"' in page


def test_the_tier_rate_stake_and_what_the_next_tier_needs(client, ambassador):
    clones_credit(ambassador.user, "1500000")
    stake(ambassador=ambassador, amount="1200000")

    response = client.get(DASHBOARD)

    page = text(response)
    assert "Tier <strong>1</strong> · commission <strong>1%</strong>" in page
    assert 'Staked: <strong class="money">1200000 CLONES</strong>' in page
    assert "tier 2</strong> (2%) at 2000000 CLONES staked" in page
    assert "800000 CLONES</strong> more to go" in page


def test_staking_from_the_page_moves_clones_and_raises_the_tier(client, ambassador):
    clones_credit(ambassador.user, "2500000")

    response = client.post(reverse("referrals:stake"), {"stake-amount": "2000000"}, follow=True)

    assert "Staked 2000000 CLONES." in text(response)
    assert clones_balances(ambassador.user)[Account.Kind.USER_STAKE] == clones_units("2000000")
    ambassador.refresh_from_db()
    assert ambassador.tier == 2
    assert_audit_clean()


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("5000000", "Insufficient funds"),
        ("0", "greater than zero"),
        ("0.0000000001", "At most 9 decimal places"),
    ],
)
def test_a_bad_stake_is_shown_next_to_the_amount_and_moves_nothing(client, ambassador, amount, message):
    clones_credit(ambassador.user, "100")
    before = clones_balances(ambassador.user)

    response = client.post(reverse("referrals:stake"), {"stake-amount": amount})

    assert response.status_code == 400
    assert any(message in error for error in response.context["stake_form"].errors["amount"])
    assert 'id="id_stake-amount_error"' in text(response)
    assert clones_balances(ambassador.user) == before
    assert_audit_clean()


def test_unstaking_from_the_page_starts_the_cooldown(client, ambassador):
    clones_credit(ambassador.user, "1000000")
    stake(ambassador=ambassador, amount="1000000")

    response = client.post(reverse("referrals:unstake"), {"unstake-amount": "400000"}, follow=True)

    assert "returns to your balance after the cooldown" in text(response)
    request = Unstake.objects.get(ambassador=ambassador)
    assert request.amount == clones_units("400000")
    assert "Cooling down" in text(response)
    assert clones_balances(ambassador.user)[Account.Kind.USER_UNBONDING] == clones_units("400000")
    assert_audit_clean()


def test_unstaking_more_than_the_stake_is_refused(client, ambassador):
    clones_credit(ambassador.user, "10")
    stake(ambassador=ambassador, amount="10")

    response = client.post(reverse("referrals:unstake"), {"unstake-amount": "11"})

    assert response.status_code == 400
    assert "Insufficient funds" in response.context["unstake_form"].errors["amount"][0]
    assert not Unstake.objects.exists()


def test_staking_needs_an_ambassador(client, member):
    clones_credit(member, "10")

    response = client.post(reverse("referrals:stake"), {"stake-amount": "1"}, follow=True)

    assert "Become an ambassador first." in text(response)
    assert clones_balances(member)[Account.Kind.USER_STAKE] == 0


def test_an_ambassador_withdraws_their_commissions_from_the_dashboard(client, ambassador, staff):
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    farmer = FarmerFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    settle(funded_factory(CreatorFactory(), reward="0.2"), farmer, "1")  # 0.01 USDC commission

    response = client.post(
        reverse("referrals:withdraw"),
        {"token": "USDC", "amount": "0.01", "address": withdrawal_wallet(ambassador.user)},
        follow=True,
    )

    withdrawal = Withdrawal.objects.get(user=ambassador.user)
    assert (withdrawal.amount, withdrawal.status) == (10_000, Withdrawal.Status.PENDING)
    assert "Withdrawal of 0.01 USDC requested" in text(response)
    balances = {row["token"].symbol: row for row in response.context["balances"]}
    assert (balances["USDC"]["available"], balances["USDC"]["pending_withdrawal"]) == (0, 10_000)
    assert_audit_clean()


def test_an_ambassador_cannot_withdraw_more_than_their_commissions(client, ambassador):
    response = client.post(
        reverse("referrals:withdraw"),
        {"token": "USDC", "amount": "0.01", "address": withdrawal_wallet(ambassador.user)},
    )

    assert response.status_code == 400
    assert "Insufficient funds" in response.context["form"].errors["amount"][0]
    assert not Withdrawal.objects.exists()
    assert_audit_clean()
