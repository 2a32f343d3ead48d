"""/r/<code> remembers a known code for the signup that follows; ?ref= does too."""

import pytest
from django.contrib.messages import get_messages
from django.urls import NoReverseMatch, reverse

from referrals.middleware import SESSION_KEY

pytestmark = pytest.mark.django_db


def signup_url() -> str:
    try:
        return reverse("accounts:signup")
    except NoReverseMatch:
        return "/"


def test_the_link_stores_the_code_and_redirects_to_signup(client, ambassador):
    response = client.get(f"/r/{ambassador.code}")

    assert response.status_code == 302
    assert response["Location"] == signup_url()
    assert client.session[SESSION_KEY] == ambassador.code


def test_a_lower_case_link_with_a_trailing_slash_stores_the_canonical_code(client, ambassador):
    response = client.get(f"/r/{ambassador.code.lower()}/")

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == ambassador.code


def test_an_unknown_code_redirects_with_a_message_and_stores_nothing(client, ambassador):
    unknown = "ZZZZZZZZ" if ambassador.code != "ZZZZZZZZ" else "YYYYYYYY"
    response = client.get(f"/r/{unknown}")

    assert response.status_code == 302
    assert response["Location"] == signup_url()
    assert SESSION_KEY not in client.session
    texts = [str(message) for message in get_messages(response.wsgi_request)]
    assert any(unknown in text and "does not exist" in text for text in texts), texts


def test_a_ref_query_parameter_is_remembered_by_the_middleware(client, ambassador):
    client.get(f"/healthz?ref={ambassador.code.lower()}")

    assert client.session[SESSION_KEY] == ambassador.code
