"""A user is attributed to one ambassador, once and permanently, never to themselves."""

import pytest
from django.core.exceptions import ValidationError

from core.exceptions import Conflict
from referrals.models import Referral
from referrals.services import referral_attach
from tests.factories import CreatorFactory, FarmerFactory
from tests.referrals.conftest import make_ambassador

pytestmark = pytest.mark.django_db


def test_attaching_a_user_records_who_referred_them(ambassador):
    farmer = FarmerFactory()

    referral = referral_attach(user=farmer, ambassador=ambassador)

    assert Referral.objects.get(user=farmer) == referral
    assert referral.ambassador == ambassador


def test_an_ambassador_cannot_refer_themselves(ambassador):
    with pytest.raises(ValidationError) as error:
        referral_attach(user=ambassador.user, ambassador=ambassador)

    assert "own referral code" in str(error.value.message_dict["referral_code"])
    assert not Referral.objects.exists()


def test_a_referral_cannot_be_changed_later(ambassador):
    creator = CreatorFactory()
    referral_attach(user=creator, ambassador=ambassador)
    other = make_ambassador(username="other-amb")

    with pytest.raises(Conflict):
        referral_attach(user=creator, ambassador=other)
    with pytest.raises(Conflict):
        referral_attach(user=creator, ambassador=ambassador)

    assert list(Referral.objects.filter(user=creator).values_list("ambassador", flat=True)) == [ambassador.pk]


def test_me_shows_who_referred_a_user_and_their_own_code(as_user, ambassador):
    farmer = FarmerFactory()
    referral_attach(user=farmer, ambassador=ambassador)

    body = as_user(farmer).get("/api/v1/me/").json()
    assert body["referred_by"] == ambassador.code
    assert body["ambassador_code"] is None

    body = as_user(ambassador.user).get("/api/v1/me/").json()
    assert body["referred_by"] is None
    assert body["ambassador_code"] == ambassador.code
