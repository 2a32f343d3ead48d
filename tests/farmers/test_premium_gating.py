"""Premium factories (a minimum reputation): locked below it whatever the client does (API
403, page message), unlocked by reputation earned through real settled work."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from pools.models import Claim
from tests.factories import CreatorFactory
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def test_the_api_refuses_a_premium_claim_below_the_minimum_with_403(as_user, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("65"))

    response = as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/")

    assert response.status_code == 403
    assert "15.00 points to go" in response.json()["detail"]
    assert not Claim.objects.filter(factory=factory).exists()
    factory.available_account.refresh_from_db()
    assert factory.available_account.balance == 10_000_000
    assert_audit_clean()


def test_reputation_earned_by_settled_work_unlocks_a_premium_factory(as_user, client, creator, farmer):
    premium = funded_factory(creator, title="Premium", min_reputation=Decimal("65"))
    practice = funded_factory(creator, title="Practice")
    elsewhere = funded_factory(CreatorFactory(), title="Elsewhere")
    client.force_login(farmer)
    browse = client.get(reverse("farmers:browse"))
    locks = {"Premium": True, "Practice": False, "Elsewhere": False}
    assert {row.factory.title: row.locked for row in browse.context["rows"]} == locks

    for factory in (practice, elsewhere):
        settle(factory, farmer, "1")
        reputation_recompute(farmer_id=farmer.pk)

    # Two perfect, on-time submissions for two creators: every part (1.5 + 2) / 5 = 0.7, so 70
    # points (for one creator it would stop at 62.50: tests/farmers/test_reputation_creator_share.py).
    assert reputation_of(farmer) == Decimal("70.00")
    browse = client.get(reverse("farmers:browse"))
    assert {row.factory.title: row.locked for row in browse.context["rows"]} == {**locks, "Premium": False}
    response = as_user(farmer).post(f"/api/v1/factories/{premium.pk}/claims/")
    assert response.status_code == 201, response.json()
    assert_audit_clean()


def test_the_page_refuses_the_same_claim_and_says_why(client, creator, farmer):
    factory = funded_factory(creator, min_reputation=Decimal("65"))
    client.force_login(farmer)

    response = client.post(reverse("farmers:claim_start", args=[factory.pk]), follow=True)

    assert "This premium factory needs a reputation of 65.00; yours is 50.00 (15.00 points to go)." in (
        response.content.decode()
    )
    assert not Claim.objects.filter(factory=factory).exists()
