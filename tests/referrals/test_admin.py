"""The referrals admin, driven as a superuser with Django's test client."""

from decimal import Decimal

import pytest
from django.contrib import admin

from referrals.models import Ambassador, CommissionTier, Referral, TierChange, Unstake
from referrals.services import referral_attach, stake, unstake
from tests.factories import FarmerFactory
from tests.referrals.conftest import clones_credit, make_ambassador

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def tier_form(tier: CommissionTier, **changes) -> dict:
    return {
        "commission_rate": str(changes.get("commission_rate", tier.commission_rate)),
        "stake_threshold": str(changes.get("stake_threshold", tier.stake_threshold)),
    }


def test_a_tier_rate_within_the_fee_is_saved_from_the_change_form(admin_client):
    tier = CommissionTier.objects.get(tier=4)

    response = admin_client.post(
        f"/admin/referrals/commissiontier/{tier.pk}/change/", tier_form(tier, commission_rate="0.045")
    )

    assert response.status_code == 302, response.content[:2000]
    tier.refresh_from_db()
    assert tier.commission_rate == Decimal("0.045")


def test_a_tier_rate_the_fee_cannot_cover_is_refused_with_a_clear_error(admin_client):
    tier = CommissionTier.objects.get(tier=5)

    response = admin_client.post(
        f"/admin/referrals/commissiontier/{tier.pk}/change/", tier_form(tier, commission_rate="0.06")
    )

    assert response.status_code == 200  # the form again, with the error
    errors = response.context["adminform"].form.errors
    assert "platform fee (10.00%)" in errors["commission_rate"][0]
    tier.refresh_from_db()
    assert tier.commission_rate == Decimal("0.05")


def test_the_tier_list_is_editable_in_place_and_validated_row_by_row(admin_client):
    tiers = list(CommissionTier.objects.order_by("tier"))
    data = {
        "form-TOTAL_FORMS": str(len(tiers)),
        "form-INITIAL_FORMS": str(len(tiers)),
        "form-MIN_NUM_FORMS": "0",
        "form-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for index, tier in enumerate(tiers):
        data[f"form-{index}-id"] = str(tier.pk)
        for field, value in tier_form(tier).items():
            data[f"form-{index}-{field}"] = value
    data["form-1-commission_rate"] = "0.08"  # tier 2: two of them would take 16% > 10%

    response = admin_client.post("/admin/referrals/commissiontier/", data)

    assert response.status_code == 200
    assert "platform fee" in response.content.decode()
    assert CommissionTier.objects.get(tier=2).commission_rate == Decimal("0.02")

    data["form-1-commission_rate"] = "0.025"
    response = admin_client.post("/admin/referrals/commissiontier/", data)

    assert response.status_code == 302
    assert CommissionTier.objects.get(tier=2).commission_rate == Decimal("0.025")


def model_admin(model):
    return admin.site._registry[model]


def test_tiers_cannot_be_added_or_deleted(admin_client):
    page = admin_client.get("/admin/referrals/commissiontier/")

    assert page.status_code == 200
    assert page.context["has_add_permission"] is False
    request = page.wsgi_request
    assert not model_admin(CommissionTier).has_delete_permission(request, CommissionTier.objects.first())


def test_changing_an_override_in_the_admin_records_who_changed_it(admin_client, staff, ambassador):
    response = admin_client.post(f"/admin/referrals/ambassador/{ambassador.pk}/change/", {"tier_override": "3"})

    assert response.status_code == 302, response.content[:2000]
    ambassador.refresh_from_db()
    assert ambassador.tier == 3
    change = TierChange.objects.get()
    assert (change.cause, change.old_tier, change.new_tier, change.changed_by) == ("staff", 0, 3, staff)

    admin_client.post(f"/admin/referrals/ambassador/{ambassador.pk}/change/", {"tier_override": ""})

    ambassador.refresh_from_db()
    assert ambassador.tier_override is None
    assert TierChange.objects.count() == 2
    assert TierChange.objects.first().changed_by == staff


def test_saving_an_ambassador_without_changes_records_nothing(admin_client, ambassador):
    response = admin_client.post(f"/admin/referrals/ambassador/{ambassador.pk}/change/", {"tier_override": ""})

    assert response.status_code == 302
    assert not TierChange.objects.exists()


def test_an_out_of_range_override_is_refused_by_the_form(admin_client, ambassador):
    response = admin_client.post(f"/admin/referrals/ambassador/{ambassador.pk}/change/", {"tier_override": "7"})

    assert response.status_code == 200
    assert "tier_override" in response.context["adminform"].form.errors
    ambassador.refresh_from_db()
    assert ambassador.tier_override is None


def test_the_clear_override_action_goes_through_the_service(admin_client, staff):
    first, second = make_ambassador(username="a1"), make_ambassador(username="a2")
    Ambassador.objects.filter(pk__in=[first.pk, second.pk]).update(tier_override=4)

    admin_client.post(
        "/admin/referrals/ambassador/",
        {"action": "clear_override", "_selected_action": [first.pk, second.pk]},
    )

    assert not Ambassador.objects.exclude(tier_override=None).exists()
    assert TierChange.objects.filter(changed_by=staff, old_tier=4, new_tier=0).count() == 2


def test_the_ambassador_list_filters_by_override_and_stake_tier_and_searches(admin_client):
    plain = make_ambassador(username="plainuser")
    boosted = make_ambassador(username="boosteduser")
    Ambassador.objects.filter(pk=boosted.pk).update(tier_override=5)
    staker = make_ambassador(username="stakeruser")
    clones_credit(staker.user, "2000000")
    stake(ambassador=staker, amount="2000000")

    def listed(query: str) -> set[str]:
        response = admin_client.get(f"/admin/referrals/ambassador/?{query}")
        assert response.status_code == 200
        return {ambassador.code for ambassador in response.context["cl"].result_list}

    assert listed("") == {plain.code, boosted.code, staker.code}
    assert listed("tier_override=5") == {boosted.code}
    assert listed("tier_override__isnull=True") == {plain.code, staker.code}
    assert listed("stake_tier=2") == {staker.code}
    assert listed("q=boosted") == {boosted.code}
    assert listed(f"q={plain.code}") == {plain.code}


def test_referrals_tier_history_and_unstakes_are_read_only(admin_client, ambassador, staff):
    farmer = FarmerFactory(username="referredfarmer")
    referral = referral_attach(user=farmer, ambassador=ambassador)
    clones_credit(ambassador.user, "10")
    stake(ambassador=ambassador, amount="10")
    request = unstake(ambassador=ambassador, amount="4")
    from referrals.services import ambassador_set_tier

    ambassador_set_tier(ambassador=ambassador, tier=2, actor=staff)
    change = TierChange.objects.get()

    response = admin_client.get("/admin/referrals/referral/?q=referredfarmer")
    assert response.status_code == 200
    assert [row.pk for row in response.context["cl"].result_list] == [referral.pk]
    assert admin_client.get("/admin/referrals/unstake/").status_code == 200
    assert "4 CLONES" in admin_client.get("/admin/referrals/unstake/").content.decode()
    assert admin_client.get("/admin/referrals/tierchange/?cause=staff").status_code == 200

    for model, obj in [(Referral, referral), (TierChange, change), (Unstake, request)]:
        name = model._meta.model_name
        page = admin_client.get(f"/admin/referrals/{name}/{obj.pk}/change/")
        assert page.status_code == 200
        assert page.context["has_change_permission"] is False
        assert page.context["has_add_permission"] is False
        assert page.context["has_delete_permission"] is False
        assert not model_admin(model).has_delete_permission(page.wsgi_request, obj)
    assert Referral.objects.get().ambassador == ambassador
    assert TierChange.objects.count() == 1


def test_the_ambassador_page_shows_its_tier_history(admin_client, staff, ambassador):
    from referrals.services import ambassador_set_tier

    ambassador_set_tier(ambassador=ambassador, tier=3, actor=staff)

    page = admin_client.get(f"/admin/referrals/ambassador/{ambassador.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Set by staff" in html and "0 → 3" in html and staff.username in html
