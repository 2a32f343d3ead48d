"""API tokens: one per user, rotated or revoked on request."""

import pytest

from accounts.services import api_token_for, api_token_revoke

pytestmark = pytest.mark.django_db


def test_rotating_the_token_invalidates_the_old_one(api, farmer):
    old = api_token_for(farmer)
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")

    new = api.post("/api/v1/auth/token/rotate/").json()["token"]

    assert new != old
    assert api.get("/api/v1/me/").status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api.get("/api/v1/me/").status_code == 200


def test_a_revoked_token_no_longer_authenticates(api, farmer):
    api.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(farmer)}")
    api_token_revoke(user=farmer)

    assert api.get("/api/v1/me/").status_code == 401
    assert api_token_for(farmer)  # a new one is issued on demand
