"""POST /api/v1/auth/register/: creators and farmers sign up, optionally with a referral code."""

import pytest

from accounts.models import User
from farmers.models import FarmerProfile
from referrals.models import Referral
from tests.referrals.conftest import make_ambassador

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-passphrase-42"


def register(api, **fields):
    return api.post("/api/v1/auth/register/", {"password": PASSWORD, **fields}, format="json")


def test_a_farmer_registers_and_gets_a_working_token(api):
    response = register(api, username="alice", role="farmer")

    assert response.status_code == 201, response.json()
    body = response.json()
    user = User.objects.get(username="alice")
    assert body == {"id": user.pk, "username": "alice", "role": "farmer", "token": body["token"]}
    assert FarmerProfile.objects.filter(user=user).exists()
    api.credentials(HTTP_AUTHORIZATION=f"Token {body['token']}")
    assert api.get("/api/v1/me/").json()["username"] == "alice"


def test_a_creator_registers_without_a_farmer_profile(api):
    response = register(api, username="bob", role="creator")

    assert response.status_code == 201, response.json()
    assert not FarmerProfile.objects.filter(user__username="bob").exists()


def test_registering_with_a_referral_code_attributes_the_user_to_its_ambassador(api):
    ambassador = make_ambassador(username="amb")

    response = register(api, username="carol", role="farmer", referral_code=ambassador.code.lower())

    assert response.status_code == 201, response.json()
    referral = Referral.objects.get(user__username="carol")
    assert referral.ambassador == ambassador


def test_a_creator_registering_with_a_referral_code_is_attributed_too(api):
    ambassador = make_ambassador(username="amb")

    assert register(api, username="dave", role="creator", referral_code=ambassador.code).status_code == 201

    assert Referral.objects.get(user__username="dave").ambassador == ambassador


def test_an_unknown_referral_code_is_a_400_and_creates_no_user(api):
    make_ambassador(username="amb")

    response = register(api, username="erin", role="farmer", referral_code="NOPE2345")

    assert response.status_code == 400
    assert "NOPE2345" in response.json()["referral_code"][0]
    assert not User.objects.filter(username="erin").exists()
    assert not Referral.objects.exists()


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_a_blank_referral_code_means_no_referral(api, blank):
    response = register(api, username="frank", role="farmer", referral_code=blank)

    assert response.status_code == 201, response.json()
    assert not Referral.objects.exists()


def test_a_taken_username_is_refused_whatever_its_case(api):
    assert register(api, username="grace", role="farmer").status_code == 201

    response = register(api, username="GRACE", role="creator")

    assert response.status_code == 400
    assert "username" in response.json()
    assert User.objects.filter(username__iexact="grace").count() == 1


@pytest.mark.parametrize("role", ["grader", "staff", ""])
def test_only_creator_and_farmer_roles_can_register(api, role):
    response = register(api, username="heidi", role=role)

    assert response.status_code == 400
    assert "role" in response.json()
    assert not User.objects.filter(username="heidi").exists()


def test_a_weak_password_is_refused_with_the_validators_messages(api):
    response = api.post(
        "/api/v1/auth/register/", {"username": "ivan", "password": "123", "role": "farmer"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["password"]
    assert not User.objects.filter(username="ivan").exists()


def test_several_errors_are_reported_together(api):
    response = api.post(
        "/api/v1/auth/register/",
        {"username": "x", "password": "123", "role": "farmer", "referral_code": "NOPE2345"},
        format="json",
    )

    assert response.status_code == 400
    assert {"username", "password", "referral_code"} <= set(response.json())


def test_the_token_endpoint_returns_the_same_token_for_the_right_password(api):
    token = register(api, username="judy", role="farmer").json()["token"]

    assert api.post("/api/v1/auth/token/", {"username": "judy", "password": PASSWORD}).json() == {"token": token}
    assert api.post("/api/v1/auth/token/", {"username": "judy", "password": "wrong"}).status_code == 400
