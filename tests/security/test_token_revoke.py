"""API tokens: revoked or rotated through the API or the account page, the old token stops
working at once; a new one is issued only on request."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token as ApiToken
from rest_framework.test import APIClient

from accounts.services import api_token_for

pytestmark = pytest.mark.django_db


def me(token: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client.get("/api/v1/me/").status_code


def test_revoking_through_the_api_stops_the_token_at_once(farmer):
    token = api_token_for(farmer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")

    response = client.post("/api/v1/auth/token/revoke/")

    assert response.status_code == 204
    assert me(token) == 401
    assert client.post("/api/v1/auth/token/revoke/").status_code == 401  # it cannot revoke again
    assert not ApiToken.objects.filter(user=farmer).exists()


@pytest.mark.parametrize("action", ["rotate", "revoke"])
def test_the_account_page_rotates_or_revokes_the_token(farmer, action):
    old = api_token_for(farmer)
    page = Client()
    page.force_login(farmer)

    response = page.post(f"/accounts/token/{action}/")

    assert response.status_code == 302
    assert me(old) == 401
    current = ApiToken.objects.filter(user=farmer).first()
    if action == "rotate":
        assert current is not None and current.key != old and me(current.key) == 200
    else:
        assert current is None


def test_a_revoked_user_signs_in_again_for_a_new_token(farmer):
    old = api_token_for(farmer)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    client.post("/api/v1/auth/token/revoke/")

    new = APIClient().post(
        "/api/v1/auth/token/", {"username": farmer.username, "password": "correct-horse-battery"}, format="json"
    )

    assert new.status_code == 200
    assert new.json()["token"] != old
    assert me(new.json()["token"]) == 200
