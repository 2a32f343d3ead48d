"""Account links (issue 20 rows 1-2): the signals that an ambassador, a farmer and a creator
are one person beyond a shared withdrawal wallet. A ring signed up from one network and
browser, or paying its factory from a wallet its farmer was paid to, earns no commission (the
platform keeps the share) and no reputation from its own work; the link is a flag staff
confirm or dismiss (audited). Independent accounts are unaffected."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.links import account_link_decide, signin_signals_purge
from accounts.models import AccountLink, SignInSignal, User
from accounts.selectors import users_linked
from audit.models import StaffAction
from farmers.selectors import reputation_of
from farmers.services import reputation_recompute
from referrals.models import Ambassador
from referrals.services import ambassador_create, ambassador_set_tier
from tests.farmers.helpers import settle
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.referrals.test_commission_at_settlement import (
    claimed_and_submitted,
    settle_at_full_quality,
    treasury_usdc,
    usdc_balance,
)

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
OTHER_BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15"


def register(username: str, role: str, *, ip: str, agent: str = BROWSER, code: str | None = None) -> User:
    body = {"username": username, "password": "a long passphrase 42", "role": role}
    if code:
        body["referral_code"] = code
    response = Client().post(
        "/api/v1/auth/register/", body, content_type="application/json", REMOTE_ADDR=ip, HTTP_USER_AGENT=agent
    )
    assert response.status_code == 201, response.content
    return User.objects.get(pk=response.json()["id"])


def ring_from(*, ambassador_ip: str, farmer_ip: str, creator_ip: str, staff, agents=(BROWSER, BROWSER, BROWSER)):
    leader = register("ringleader", "farmer", ip=ambassador_ip, agent=agents[0])
    ambassador = ambassador_create(user=leader)[0]
    ambassador_set_tier(ambassador=ambassador, tier=5, actor=staff)
    farmer = register("ringfarmer", "farmer", ip=farmer_ip, agent=agents[1], code=ambassador.code)
    creator = register("ringcreator", "creator", ip=creator_ip, agent=agents[2], code=ambassador.code)
    return ambassador, farmer, creator


def test_a_ring_signed_up_from_one_network_and_browser_earns_no_commission(staff):
    ambassador, farmer, creator = ring_from(
        ambassador_ip="203.0.113.7", farmer_ip="203.0.113.80", creator_ip="203.0.113.200", staff=staff
    )

    links = AccountLink.objects.filter(signal=AccountLink.Signal.DEVICE)
    pairs = {(link.user_low_id, link.user_high_id) for link in links}
    assert pairs == {
        tuple(sorted((ambassador.user_id, farmer.pk))),
        tuple(sorted((ambassador.user_id, creator.pk))),
        tuple(sorted((farmer.pk, creator.pk))),
    }
    assert {link.status for link in links} == {AccountLink.Status.OPEN}

    treasury_before = treasury_usdc()
    settled = settle_at_full_quality(claimed_and_submitted(farmer, creator))

    assert usdc_balance(ambassador.user) == 0
    assert settled.settlement_terms["farmer_ambassador_rate"] == "0"
    assert settled.settlement_terms["factory_ambassador_rate"] == "0"
    assert treasury_usdc() - treasury_before == 20_000  # the whole fee F = 10% of G = 0.2 USDC
    assert_audit_clean()


def test_only_hashes_of_the_network_and_browser_are_kept(staff):
    register("someone", "farmer", ip="198.51.100.23", agent=BROWSER)

    signal = SignInSignal.objects.get()
    assert signal.kind == SignInSignal.Kind.REGISTRATION
    stored = f"{signal.network_hash} {signal.agent_hash}"
    for secret in ("198.51.100", "Firefox", "Mozilla"):
        assert secret not in stored
    assert len(signal.network_hash) == len(signal.agent_hash) == 64


def test_another_network_or_another_browser_links_nothing(staff):
    ambassador, farmer, creator = ring_from(
        ambassador_ip="203.0.113.7",
        farmer_ip="198.51.100.7",  # another /24, same browser
        creator_ip="203.0.113.9",  # same /24, another browser
        staff=staff,
        agents=(BROWSER, BROWSER, OTHER_BROWSER),
    )

    assert not AccountLink.objects.exists()
    settle_at_full_quality(claimed_and_submitted(farmer, creator))
    assert usdc_balance(ambassador.user) == 20_000  # 5% on each side
    assert_audit_clean()


def test_a_login_from_the_rings_browser_links_an_account_registered_elsewhere(staff):
    farmer = register("farmer1", "farmer", ip="198.51.100.7")
    creator = register("creator1", "creator", ip="192.0.2.5")
    assert users_linked([farmer.pk])[farmer.pk] == {}

    response = Client().post(
        "/api/v1/auth/token/",
        {"username": "creator1", "password": "a long passphrase 42"},
        content_type="application/json",
        REMOTE_ADDR="198.51.100.99",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 200
    assert users_linked([farmer.pk])[farmer.pk] == {creator.pk: "same network and browser at sign-in"}
    assert SignInSignal.objects.filter(user=creator, kind=SignInSignal.Kind.TOKEN).count() == 1


def test_links_are_followed_through_a_third_account(staff):
    ambassador, farmer, creator = ring_from(
        ambassador_ip="203.0.113.7",
        farmer_ip="198.51.100.7",
        creator_ip="192.0.2.5",
        staff=staff,
    )
    # The farmer signs in once from the ambassador's network, the creator from the farmer's.
    for username, ip in (("ringfarmer", "203.0.113.66"), ("ringcreator", "198.51.100.66")):
        Client().post(
            "/api/v1/auth/token/",
            {"username": username, "password": "a long passphrase 42"},
            content_type="application/json",
            REMOTE_ADDR=ip,
            HTTP_USER_AGENT=BROWSER,
        )

    why = users_linked([creator.pk])[creator.pk]
    assert set(why) == {farmer.pk, ambassador.user_id}
    assert why[ambassador.user_id] == f"same network and browser at sign-in (through user {farmer.pk})"
    assert users_linked([creator.pk], depth=1)[creator.pk].keys() == {farmer.pk}


def test_staff_dismissing_a_link_restores_commission_from_then_on_and_is_audited(staff):
    ambassador, farmer, creator = ring_from(
        ambassador_ip="203.0.113.7", farmer_ip="203.0.113.80", creator_ip="203.0.113.200", staff=staff
    )
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/accounts/accountlink/").content.decode()
    assert "same network and browser at sign-in" in page and "ringfarmer" in page

    link = AccountLink.objects.get(user_low=min(farmer.pk, creator.pk), user_high=max(farmer.pk, creator.pk))
    refused = client.post(f"/admin/accounts/accountlink/{link.pk}/change/", {"decision": "dismiss", "reason": ""})
    assert refused.status_code == 200 and "Say why the link is dismissed." in refused.content.decode()
    assert AccountLink.objects.get(pk=link.pk).status == AccountLink.Status.OPEN

    for link in AccountLink.objects.all():
        response = client.post(
            f"/admin/accounts/accountlink/{link.pk}/change/",
            {"decision": "dismiss", "reason": "one shared office network, checked by phone"},
        )
        assert response.status_code == 302
    assert set(AccountLink.objects.values_list("status", flat=True)) == {AccountLink.Status.DISMISSED}
    actions = StaffAction.objects.filter(action="account_link_dismiss")
    assert actions.count() == 3
    assert {a.actor_id for a in actions} == {staff.pk}
    assert {a.after["status"] for a in actions} == {"dismissed"}

    settle_at_full_quality(claimed_and_submitted(farmer, creator))
    assert usdc_balance(ambassador.user) == 20_000
    assert_audit_clean()


def test_a_confirmed_link_keeps_counting_and_a_bad_decision_changes_nothing(staff):
    _, farmer, creator = ring_from(
        ambassador_ip="203.0.113.7", farmer_ip="203.0.113.80", creator_ip="203.0.113.200", staff=staff
    )
    link = AccountLink.objects.get(user_low=min(farmer.pk, creator.pk), user_high=max(farmer.pk, creator.pk))
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        account_link_decide(link=link, decision="forget", actor=staff)
    assert AccountLink.objects.get(pk=link.pk).status == AccountLink.Status.OPEN

    account_link_decide(link=link, decision="confirm", actor=staff)
    assert AccountLink.objects.get(pk=link.pk).status == AccountLink.Status.CONFIRMED
    assert creator.pk in users_linked([farmer.pk])[farmer.pk]


def test_sign_in_signals_are_deleted_after_the_retention_period_links_stay(staff, settings):
    settings.FORGE_SIGNIN_SIGNAL_RETENTION_DAYS = 30
    register("aaa1", "farmer", ip="203.0.113.7")
    register("aaa2", "creator", ip="203.0.113.8")
    SignInSignal.objects.update(created_at=timezone.now() - timedelta(days=31))
    register("aaa3", "farmer", ip="203.0.113.9")

    assert signin_signals_purge() == 2
    assert SignInSignal.objects.count() == 1
    assert AccountLink.objects.count() == 1  # aaa1-aaa2, made before; aaa3 met no signal in the window


# ---- Row 2: reputation counts nothing from a linked creator -------------------------------


def test_work_for_a_creator_signed_up_from_the_farmers_browser_earns_no_reputation(staff):
    farmer = register("repfarmer", "farmer", ip="203.0.113.7")
    creator = register("repcreator", "creator", ip="203.0.113.99")
    own = funded_factory(creator, reward="0.2", deposit="10")
    for _ in range(6):
        settle(own, farmer, "1")
    reputation_recompute(farmer_id=farmer.pk)
    assert reputation_of(farmer) == Decimal("50.00")

    stranger = register("stranger", "creator", ip="192.0.2.5")
    theirs = funded_factory(stranger, reward="0.2", deposit="10")
    for _ in range(6):
        settle(theirs, farmer, "1")
    reputation_recompute(farmer_id=farmer.pk)
    # The stranger's work counts, up to one creator's share: 62.50 (75.00 if the linked
    # creator's counted as a second creator).
    assert reputation_of(farmer) == Decimal("62.50")
    assert not Ambassador.objects.exists()
    assert_audit_clean()


def test_the_signup_and_login_pages_record_the_signals_too(staff):
    page = Client()
    response = page.post(
        "/accounts/signup/",
        {
            "username": "pagefarmer",
            "email": "",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
            "role": "farmer",
            "referral_code": "",
        },
        REMOTE_ADDR="203.0.113.7",
        HTTP_USER_AGENT=BROWSER,
    )
    assert response.status_code == 302, response.content
    farmer = User.objects.get(username="pagefarmer")
    creator = register("pagecreator", "creator", ip="192.0.2.5")

    response = Client().post(
        "/accounts/login/",
        {"username": "pagecreator", "password": "a long passphrase 42"},
        REMOTE_ADDR="203.0.113.50",
        HTTP_USER_AGENT=BROWSER,
    )

    assert response.status_code == 302
    kinds = set(SignInSignal.objects.values_list("user__username", "kind"))
    assert kinds == {("pagefarmer", "registration"), ("pagecreator", "registration"), ("pagecreator", "login")}
    assert set(users_linked([farmer.pk])[farmer.pk]) == {creator.pk}


def test_a_network_and_browser_shared_by_a_crowd_links_nobody_more(staff, settings):
    settings.FORGE_DEVICE_LINK_MAX_ACCOUNTS = 2
    first = register("crowd1", "farmer", ip="203.0.113.7")
    second = register("crowd2", "farmer", ip="203.0.113.8")  # links crowd1
    third = register("crowd3", "creator", ip="203.0.113.9")  # links crowd1 and crowd2: two others
    fourth = register("crowd4", "creator", ip="203.0.113.10")  # three others: a crowd, no link

    assert AccountLink.objects.count() == 3
    assert users_linked([fourth.pk])[fourth.pk] == {}
    assert set(users_linked([first.pk])[first.pk]) == {second.pk, third.pk}
    assert SignInSignal.objects.filter(user=fourth).count() == 1  # kept, as every signal
