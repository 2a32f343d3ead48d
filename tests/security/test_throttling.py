"""Brute force and floods: django-axes locks a username for an address after
AXES_FAILURE_LIMIT failed logins (the login page and POST /api/v1/auth/token/ count together),
DRF scoped throttles cap registration, tokens, claims and submissions per client, and weak
passwords are refused at registration."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from accounts.models import User
from pools.models import Claim, Submission
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def axes(settings):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    return settings


def token_attempt(username: str, password: str):
    return APIClient().post("/api/v1/auth/token/", {"username": username, "password": password}, format="json")


def page_attempt(username: str, password: str):
    return Client().post("/accounts/login/", {"username": username, "password": password})


def test_the_token_endpoint_locks_out_after_the_failure_limit(axes, farmer):
    answers = [token_attempt(farmer.username, "wrong").status_code for _ in range(axes.AXES_FAILURE_LIMIT)]

    assert answers == [400] * (axes.AXES_FAILURE_LIMIT - 1) + [429]
    locked = token_attempt(farmer.username, PASSWORD)  # even the right password now
    assert locked.status_code == 429
    assert "Too many failed logins" in locked.json()["detail"]
    assert "token" not in locked.json()


def test_the_login_page_locks_out_after_the_failure_limit(axes, farmer):
    answers = [page_attempt(farmer.username, "wrong").status_code for _ in range(axes.AXES_FAILURE_LIMIT)]

    assert answers == [200] * (axes.AXES_FAILURE_LIMIT - 1) + [429]  # the form again, then the lockout page
    locked = page_attempt(farmer.username, PASSWORD)
    assert locked.status_code == 429
    assert "_auth_user_id" not in locked.wsgi_request.session


def test_failures_on_the_api_and_the_page_count_together(axes, farmer):
    token_attempt(farmer.username, "wrong")
    page_attempt(farmer.username, "wrong")

    assert token_attempt(farmer.username, "wrong").status_code == 429
    assert page_attempt(farmer.username, PASSWORD).status_code == 429


def test_a_lockout_is_per_username_others_still_log_in(axes, farmer):
    for _ in range(axes.AXES_FAILURE_LIMIT):
        token_attempt(farmer.username, "wrong")

    other = FarmerFactory()
    assert token_attempt(other.username, PASSWORD).status_code == 200


def test_below_the_limit_the_right_password_works_and_resets_the_count(axes, farmer):
    for _ in range(axes.AXES_FAILURE_LIMIT - 1):
        token_attempt(farmer.username, "wrong")
    assert token_attempt(farmer.username, PASSWORD).status_code == 200
    # AXES_RESET_ON_SUCCESS: the count starts again.
    for _ in range(axes.AXES_FAILURE_LIMIT - 1):
        token_attempt(farmer.username, "wrong")
    assert token_attempt(farmer.username, PASSWORD).status_code == 200


@pytest.fixture
def low_rates(monkeypatch):
    """Throttle rates are read into the throttle class at import: patch the class's table."""

    def set_rate(scope: str, rate: str) -> None:
        monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, scope: rate})

    return set_rate


def test_registration_is_throttled(low_rates):
    low_rates("register", "2/minute")
    client = APIClient()

    answers = [
        client.post(
            "/api/v1/auth/register/",
            {"username": f"flood{index}", "password": "a-long-unusual-passphrase-93", "role": "farmer"},
            format="json",
        ).status_code
        for index in range(3)
    ]

    assert answers == [201, 201, 429]
    assert not User.objects.filter(username="flood2").exists()


def test_token_requests_are_throttled(low_rates, farmer):
    low_rates("token", "2/minute")

    answers = [token_attempt(farmer.username, PASSWORD).status_code for _ in range(3)]

    assert answers == [200, 200, 429]


def test_claims_are_throttled_per_farmer(low_rates, creator, as_user):
    low_rates("claims", "1/minute")
    factories = [funded_factory(creator, title=f"Task {index}") for index in range(2)]
    farmer, other = FarmerFactory(), FarmerFactory()
    client = as_user(farmer)

    assert client.post(f"/api/v1/factories/{factories[0].pk}/claims/").status_code == 201
    refused = client.post(f"/api/v1/factories/{factories[1].pk}/claims/")
    assert refused.status_code == 429
    assert not Claim.objects.filter(farmer=farmer, factory=factories[1]).exists()
    # Per user: another farmer is not held back.
    assert as_user(other).post(f"/api/v1/factories/{factories[1].pk}/claims/").status_code == 201


def test_submissions_are_throttled_per_farmer(low_rates, creator, as_user):
    from pools.services.claims import claim_create

    low_rates("submissions", "1/minute")
    farmer = FarmerFactory()
    claims = [claim_create(factory=funded_factory(creator, title=f"Task {index}"), farmer=farmer) for index in range(2)]
    client = as_user(farmer)

    first = client.post(f"/api/v1/claims/{claims[0].pk}/submission/", {"demonstration": demonstration()}, format="json")
    second = client.post(
        f"/api/v1/claims/{claims[1].pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert (first.status_code, second.status_code) == (201, 429)
    assert not Submission.objects.filter(claim=claims[1]).exists()


def test_every_throttle_scope_in_use_has_a_rate():
    from django.conf import settings

    from forge.api_urls import urlpatterns

    scopes = {
        getattr(pattern.callback.view_class, "throttle_scope", None)
        for pattern in urlpatterns
        if hasattr(pattern.callback, "view_class")
    } - {None}
    assert scopes == {"register", "token", "claims", "submissions", "wallets", "dry_run"}
    assert scopes <= set(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])


@pytest.mark.parametrize(
    "password, message",
    [
        ("short1", "too short"),
        ("password123", "too common"),
        ("8349120573", "entirely numeric"),
        ("mallory-the-farmer", "too similar"),
    ],
)
def test_weak_passwords_are_refused_at_registration(password, message):
    response = APIClient().post(
        "/api/v1/auth/register/",
        {"username": "mallory-the-farmer", "password": password, "role": "farmer"},
        format="json",
    )

    assert response.status_code == 400
    assert any(message in text for text in response.json()["password"]), response.json()
    assert not User.objects.filter(username="mallory-the-farmer").exists()


def test_weak_passwords_are_refused_on_the_signup_page():
    response = Client().post(
        "/accounts/signup/",
        {"username": "mallory", "email": "", "password1": "password123", "password2": "password123", "role": "farmer"},
    )

    assert response.status_code == 200  # the form again, with the error
    assert "too common" in response.content.decode()
    assert not User.objects.filter(username="mallory").exists()
