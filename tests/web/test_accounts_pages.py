"""Account pages: sign up (with a referral code from the link), log in and out, lockout after
repeated failures, password change, and the account page with balances and the API token."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.authtoken.models import Token as ApiToken

from accounts.services import api_token_for
from pools.services.factories import factory_close
from referrals.models import Referral
from referrals.services import ambassador_create
from tests.factories import UserFactory
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

User = get_user_model()
PASSWORD = "correct-horse-battery"


def _signup(client, **fields):
    data = {
        "username": "newcreator",
        "email": "",
        "password1": "a-long-unusual-passphrase",
        "password2": "a-long-unusual-passphrase",
        "role": "creator",
        "referral_code": "",
        **fields,
    }
    return client.post(reverse("accounts:signup"), data, follow=True)


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul id="id_{field}_error" class="field-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# ---- Sign up -------------------------------------------------------------------------------


def test_the_signup_page_renders_with_both_roles(client):
    html = client.get(reverse("accounts:signup")).content.decode()

    assert 'type="radio" name="role" value="creator"' in html
    assert 'type="radio" name="role" value="farmer"' in html
    assert '<label for="id_username">' in html


def test_a_creator_signs_up_is_logged_in_and_lands_on_the_dashboard(client):
    response = _signup(client, username="alice", role="creator")

    assert response.redirect_chain[-1][0] == reverse("pools:dashboard")
    user = User.objects.get(username="alice")
    assert user.role == "creator"
    assert response.context["user"] == user
    assert "Welcome to Forge Pools, alice. Your account is ready." in _messages(response)


def test_a_farmer_signs_up_and_lands_on_the_task_browser(client):
    response = _signup(client, username="bob", role="farmer")

    assert response.redirect_chain[-1][0] == reverse("farmers:browse")
    assert User.objects.get(username="bob").role == "farmer"


def test_the_referral_code_from_the_link_is_prefilled_and_attaches_the_referral(client):
    ambassador, _ = ambassador_create(user=UserFactory(username="amb"))
    client.get(f"/?ref={ambassador.code.lower()}")

    form = client.get(reverse("accounts:signup")).content.decode()
    assert f'value="{ambassador.code}"' in form

    _signup(client, username="carol", role="farmer", referral_code=ambassador.code)
    referral = Referral.objects.get(user__username="carol")
    assert referral.ambassador == ambassador
    assert "referral_code" not in client.session


def test_signup_errors_are_shown_next_to_their_fields(client):
    UserFactory(username="taken")

    response = _signup(client, username="taken", referral_code="NOPE1234", password2="something-else")

    html = response.content.decode()
    assert "The two passwords differ." in _field_errors(html, "password2")
    assert User.objects.filter(username="taken").count() == 1

    response = _signup(client, username="taken", referral_code="NOPE1234", password1="12345678", password2="12345678")
    html = response.content.decode()
    assert "This username is taken." in _field_errors(html, "username")
    assert "Unknown referral code" in _field_errors(html, "referral_code")
    assert "entirely numeric" in _field_errors(html, "password1")
    assert 'aria-invalid="true" aria-describedby="id_username_helptext id_username_error"' in html
    assert User.objects.filter(username="taken").count() == 1
    assert response.context["user"].is_anonymous


def test_signup_requires_a_role(client):
    response = _signup(client, role="")

    assert "This field is required." in _field_errors(response.content.decode(), "role")
    assert not User.objects.filter(username="newcreator").exists()


def test_signed_in_users_visiting_signup_go_to_their_start_page(client, creator):
    client.force_login(creator)

    response = client.get(reverse("accounts:signup"))

    assert response["Location"] == reverse("pools:dashboard")


# ---- Log in, lockout, log out ---------------------------------------------------------------


def test_log_in_takes_each_role_to_its_start_page(client, creator, farmer):
    response = client.post(reverse("accounts:login"), {"username": creator.username, "password": PASSWORD})
    assert response["Location"] == reverse("pools:dashboard")

    client.post(reverse("accounts:logout"))
    response = client.post(reverse("accounts:login"), {"username": farmer.username, "password": PASSWORD})
    assert response["Location"] == reverse("farmers:browse")


def test_log_in_honours_a_next_page(client, creator):
    target = reverse("accounts:account")

    response = client.post(
        reverse("accounts:login") + f"?next={target}",
        {"username": creator.username, "password": PASSWORD, "next": target},
    )

    assert response["Location"] == target


def test_a_wrong_password_shows_an_error_and_does_not_log_in(client, creator):
    response = client.post(reverse("accounts:login"), {"username": creator.username, "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert response.context["user"].is_anonymous


def test_repeated_failures_lock_the_login_with_a_friendly_page(settings, client, creator):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
    url = reverse("accounts:login")

    statuses = [client.post(url, {"username": creator.username, "password": "wrong"}).status_code for _ in range(3)]
    response = client.post(url, {"username": creator.username, "password": PASSWORD})

    assert statuses[:2] == [200, 200]
    assert response.status_code == 429
    html = response.content.decode()
    assert "Too many failed log-ins" in html
    assert f"<strong>{creator.username}</strong>" in html
    assert "after 3 wrong passwords" in html
    assert response.context["user"].is_anonymous


def test_log_out_needs_a_post_and_says_so(client, creator):
    client.force_login(creator)

    assert client.get(reverse("accounts:logout")).status_code == 405
    response = client.post(reverse("accounts:logout"), follow=True)

    assert response.context["user"].is_anonymous
    assert "You are logged out." in _messages(response)


def test_the_navigation_matches_the_role(client, creator, farmer):
    anonymous = client.get("/").content.decode()
    assert reverse("accounts:login") in anonymous and reverse("accounts:signup") in anonymous
    assert reverse("pools:dashboard") not in anonymous

    client.force_login(creator)
    as_creator = client.get("/").content.decode()
    assert reverse("pools:dashboard") in as_creator
    assert reverse("farmers:browse") not in as_creator
    assert f'action="{reverse("accounts:logout")}"' in as_creator

    client.force_login(farmer)
    as_farmer = client.get("/").content.decode()
    assert reverse("farmers:browse") in as_farmer and reverse("farmers:earnings") in as_farmer
    assert reverse("pools:dashboard") not in as_farmer


# ---- Password change -----------------------------------------------------------------------


def test_changing_the_password_keeps_the_session_and_says_so(client, creator):
    client.force_login(creator)

    response = client.post(
        reverse("accounts:password-change"),
        {
            "old_password": PASSWORD,
            "new_password1": "another-fine-passphrase",
            "new_password2": "another-fine-passphrase",
        },
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse("accounts:account")
    assert "Your password was changed." in _messages(response)
    assert response.context["user"].is_authenticated
    creator.refresh_from_db()
    assert creator.check_password("another-fine-passphrase")


def test_a_wrong_old_password_is_shown_next_to_the_field(client, creator):
    client.force_login(creator)

    response = client.post(
        reverse("accounts:password-change"),
        {
            "old_password": "wrong",
            "new_password1": "another-fine-passphrase",
            "new_password2": "another-fine-passphrase",
        },
    )

    assert "incorrectly" in _field_errors(response.content.decode(), "old_password")
    creator.refresh_from_db()
    assert creator.check_password(PASSWORD)


# ---- The account page ----------------------------------------------------------------------


def test_the_account_page_needs_a_login(client):
    response = client.get(reverse("accounts:account"))

    assert response["Location"].startswith(reverse("accounts:login"))


def test_the_account_page_shows_balances_with_each_tokens_decimals(client, creator):
    usdc = funded_factory(creator, token="USDC", deposit="1.5", reward="0.2")
    sol = funded_factory(creator, token="SOL", deposit="0.000000001", reward="0.000000001")
    factory_close(factory=usdc, actor=creator)
    factory_close(factory=sol, actor=creator)
    client.force_login(creator)

    html = client.get(reverse("accounts:account")).content.decode()

    assert "1.5 USDC" in html
    assert "0.000000001 SOL" in html
    assert "Factory creator" in html
    assert "Reputation" not in html


def test_a_farmers_account_page_shows_the_reputation(client, farmer):
    client.force_login(farmer)

    html = client.get(reverse("accounts:account")).content.decode()

    assert "Reputation" in html and "/ 100" in html


def test_the_api_token_can_be_shown_rotated_and_revoked(client, creator):
    old_key = api_token_for(creator)
    client.force_login(creator)
    assert old_key in client.get(reverse("accounts:account")).content.decode()

    assert client.get(reverse("accounts:token-rotate")).status_code == 405
    response = client.post(reverse("accounts:token-rotate"), follow=True)
    new_key = ApiToken.objects.get(user=creator).key
    assert new_key != old_key
    assert "A new API token was created. The old token stopped working." in _messages(response)
    html = response.content.decode()
    assert new_key in html and old_key not in html

    response = client.post(reverse("accounts:token-revoke"), follow=True)
    assert not ApiToken.objects.filter(user=creator).exists()
    assert any("revoked" in text for text in _messages(response))
    assert "You have no API token." in response.content.decode()

    response = client.post(reverse("accounts:token-rotate"), follow=True)
    assert "Your API token was created." in _messages(response)
    assert ApiToken.objects.filter(user=creator).exists()


def test_token_actions_need_a_login(client, creator):
    api_token_for(creator)

    response = client.post(reverse("accounts:token-revoke"))

    assert response.status_code == 302
    assert ApiToken.objects.filter(user=creator).exists()
