"""Staff set an ambassador's tier (API PATCH or admin); the override wins over the stake tier,
null returns to the stake tier, and every change is recorded with who, when, old and new."""

import pytest
from django.utils import timezone

from core.exceptions import Forbidden
from referrals.models import TierChange
from referrals.services import ambassador_set_tier, stake
from tests.factories import CreatorFactory
from tests.referrals.conftest import clones_credit

pytestmark = pytest.mark.django_db


def patch(client, code, body):
    return client.patch(f"/api/v1/ambassadors/{code}/", body, format="json")


def test_staff_set_a_tier_through_the_api(as_user, staff, ambassador):
    response = patch(as_user(staff), ambassador.code, {"tier": 4})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["code"], body["tier"], body["commission_rate"]) == (ambassador.code, 4, "0.04000")
    ambassador.refresh_from_db()
    assert ambassador.tier_override == 4
    change = TierChange.objects.get()
    assert (change.old_tier, change.new_tier, change.cause, change.changed_by) == (0, 4, "staff", staff)
    assert change.tier_override == 4
    assert (timezone.now() - change.created_at).total_seconds() < 60


def test_the_code_in_the_path_is_case_insensitive(as_user, staff, ambassador):
    assert patch(as_user(staff), ambassador.code.lower(), {"tier": 2}).status_code == 200


def test_non_staff_get_403_and_nothing_changes(as_user, ambassador):
    assert patch(as_user(ambassador.user), ambassador.code, {"tier": 5}).status_code == 403
    assert patch(as_user(CreatorFactory()), ambassador.code, {"tier": 5}).status_code == 403
    ambassador.refresh_from_db()
    assert ambassador.tier_override is None
    assert not TierChange.objects.exists()


def test_anonymous_callers_get_401(api, ambassador):
    assert patch(api, ambassador.code, {"tier": 5}).status_code == 401


@pytest.mark.parametrize("body", [{"tier": 7}, {"tier": -1}, {"tier": "x"}, {"tier": 2.5}, {}])
def test_invalid_tiers_are_a_400(as_user, staff, ambassador, body):
    response = patch(as_user(staff), ambassador.code, body)

    assert response.status_code == 400
    assert "tier" in response.json()
    assert not TierChange.objects.exists()


def test_an_unknown_code_is_a_404(as_user, staff, ambassador):
    assert patch(as_user(staff), "NOPE2345", {"tier": 1}).status_code == 404


def test_the_override_wins_over_the_stake_and_null_returns_to_the_stake_tier(as_user, staff, ambassador):
    clones_credit(ambassador.user, "3000000")
    stake(ambassador=ambassador, amount="3000000")
    client = as_user(staff)

    assert patch(client, ambassador.code, {"tier": 1}).json()["tier"] == 1
    ambassador.refresh_from_db()
    assert (ambassador.stake_tier, ambassador.tier) == (3, 1)

    body = patch(client, ambassador.code, {"tier": None}).json()

    assert (body["tier"], body["tier_override"], body["stake_tier"]) == (3, None, 3)
    history = list(TierChange.objects.order_by("id").values_list("cause", "old_tier", "new_tier", "tier_override"))
    assert history == [("stake", 0, 3, None), ("staff", 3, 1, 1), ("staff", 1, 3, None)]


def test_stake_changes_under_an_override_keep_the_tier_in_force(staff, ambassador):
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    clones_credit(ambassador.user, "2000000")

    ambassador = stake(ambassador=ambassador, amount="2000000")

    assert (ambassador.stake_tier, ambassador.tier) == (2, 5)
    assert TierChange.objects.filter(cause="stake").count() == 0  # the tier in force did not move


def test_an_override_equal_to_the_stake_tier_is_still_recorded(staff, ambassador):
    ambassador_set_tier(ambassador=ambassador, tier=0, actor=staff)

    change = TierChange.objects.get()
    assert (change.old_tier, change.new_tier, change.tier_override, change.changed_by) == (0, 0, 0, staff)


def test_setting_the_same_override_twice_records_one_change(staff, ambassador):
    ambassador_set_tier(ambassador=ambassador, tier=2, actor=staff)
    ambassador_set_tier(ambassador=ambassador, tier=2, actor=staff)

    assert TierChange.objects.count() == 1


def test_only_staff_may_call_the_service(ambassador):
    with pytest.raises(Forbidden):
        ambassador_set_tier(ambassador=ambassador, tier=3, actor=ambassador.user)
