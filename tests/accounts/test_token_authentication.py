"""`Authorization: Token <key>` (accounts/authentication.py): DRF's semantics with one
precompiled statement, and no caching, so a revoked, rotated or deactivated credential stops
working on the very next request."""

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token as ApiToken
from rest_framework.settings import api_settings
from rest_framework.test import APIClient, APIRequestFactory

from accounts.authentication import TokenAuthentication
from accounts.models import User
from accounts.services import api_token_for, api_token_revoke, api_token_rotate

pytestmark = pytest.mark.django_db


def me(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/")


def test_the_api_uses_it():
    assert TokenAuthentication in api_settings.DEFAULT_AUTHENTICATION_CLASSES


def test_it_finds_the_user_and_the_token_in_one_statement(farmer):
    key = api_token_for(farmer)
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Token {key}")

    with CaptureQueriesContext(connection) as queries:
        user, token = TokenAuthentication().authenticate(request)

    assert len(queries) == 1
    stored = User.objects.get(pk=farmer.pk)
    for field in User._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.name
    assert user._state.adding is False
    assert token == ApiToken.objects.get(key=key)
    assert (token.user_id, token.created) == (farmer.pk, ApiToken.objects.get(key=key).created)
    assert token.user is user


def test_an_unknown_key_is_refused(farmer):
    api_token_for(farmer)

    response = me("0" * 40)

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


def test_a_deactivated_users_token_stops_at_once(farmer):
    key = api_token_for(farmer)
    assert me(key).status_code == 200

    User.objects.filter(pk=farmer.pk).update(is_active=False)

    response = me(key)
    assert response.status_code == 401
    assert response.json()["detail"] == "User inactive or deleted."


@pytest.mark.parametrize("how", ["revoke", "rotate", "deleted by staff"])
def test_a_revoked_or_rotated_token_stops_at_once(farmer, how):
    key = api_token_for(farmer)
    assert me(key).status_code == 200  # a successful lookup first: nothing of it may linger

    if how == "revoke":
        api_token_revoke(user=farmer)
    elif how == "rotate":
        api_token_rotate(user=farmer)
    else:
        ApiToken.objects.filter(key=key).delete()

    assert me(key).status_code == 401


def test_a_role_change_applies_to_the_next_request(farmer):
    key = api_token_for(farmer)
    assert me(key).json()["role"] == "farmer"

    User.objects.filter(pk=farmer.pk).update(role="creator")

    assert me(key).json()["role"] == "creator"


# ---- The lookup doubles as the persistent connection's health check -----------------------


def _next_request_on_a_persistent_connection():
    """What Django does at the start of a request that reuses a connection (the test client
    leaves it out): the connection must be checked before its first query."""
    connection.ensure_connection()
    connection.health_check_done = False


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_token_lookup_replaces_the_select_1_health_check(farmer, monkeypatch):
    key = api_token_for(farmer)
    checks = []
    real_is_usable = connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or real_is_usable())
    assert connection.health_check_enabled
    _next_request_on_a_persistent_connection()

    assert me(key).status_code == 200

    assert checks == []  # no SELECT 1 round trip
    assert connection.health_check_done


@pytest.mark.skipif(
    settings.DATABASE_POOLER == "pgbouncer",
    reason="behind PgBouncer the client's connection is to the pooler, which replaces a dead server "
    "connection itself (and hands the killer the very backend it kills)",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_dead_connection_is_replaced_and_the_request_succeeds(farmer):
    import psycopg

    key = api_token_for(farmer)
    _next_request_on_a_persistent_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        dead_pid = cursor.fetchone()[0]
    connection.health_check_done = False
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [dead_pid])

    response = me(key)

    assert response.status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != dead_pid


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_unknown_key_on_a_checked_connection_is_still_refused(farmer):
    api_token_for(farmer)
    _next_request_on_a_persistent_connection()

    response = me("1" * 40)

    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."
