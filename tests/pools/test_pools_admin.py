"""The pools admin for staff: lists, filters and search render; deposits are confirmed through
an action that calls the same service as the API; money rows cannot be deleted or edited."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from ledger.models import Transaction
from pools.models import Claim, Deposit, EconomicsConfig, Factory
from pools.services.claims import claim_create
from pools.services.deposits import deposit_create, deposit_reject
from pools.services.factories import factory_rate_change
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_():
    client = Client()
    client.force_login(StaffFactory())
    return client


@pytest.fixture
def pending(settings, creator):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    factory = funded_factory(creator, deposit=None)
    return [
        deposit_create(factory=factory, actor=creator, amount="1", tx_ref="sig-admin-1"),
        deposit_create(factory=factory, actor=creator, amount="0.5", tx_ref="sig-admin-2"),
    ]


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _available(factory_id) -> int:
    return Factory.objects.select_related("available_account").get(pk=factory_id).available_account.balance


def test_confirm_selected_deposits_credits_each_pool_once(admin_client_, pending):
    factory_id = pending[0].factory_id
    ids = [deposit.pk for deposit in pending]

    response = admin_client_.post(
        "/admin/pools/deposit/", {"action": "confirm_selected", "_selected_action": ids}, follow=True
    )

    assert response.status_code == 200
    texts = _messages(response)
    assert len(texts) == 2
    assert all("confirmed" in text for text in texts), texts
    assert any("sig-admin-1" in text for text in texts)
    assert set(Deposit.objects.filter(pk__in=ids).values_list("status", flat=True)) == {Deposit.Status.CONFIRMED}
    assert Deposit.objects.get(pk=ids[0]).confirmed_by.is_superuser
    assert _available(factory_id) == 1_500_000
    assert Factory.objects.get(pk=factory_id).status == Factory.Status.ACTIVE

    again = admin_client_.post(
        "/admin/pools/deposit/", {"action": "confirm_selected", "_selected_action": ids}, follow=True
    )

    assert all("already confirmed" in text for text in _messages(again)), _messages(again)
    assert _available(factory_id) == 1_500_000
    assert Transaction.objects.filter(kind="deposit").count() == 2
    assert_audit_clean()


def test_the_confirm_action_reports_a_refusal_and_confirms_the_rest(admin_client_, pending):
    deposit_reject(deposit=pending[1], actor=None)

    response = admin_client_.post(
        "/admin/pools/deposit/",
        {"action": "confirm_selected", "_selected_action": [d.pk for d in pending]},
        follow=True,
    )

    texts = _messages(response)
    assert any("sig-admin-1" in text and "confirmed" in text for text in texts), texts
    assert any("sig-admin-2" in text and "rejected deposit cannot be confirmed" in text for text in texts), texts
    assert Deposit.objects.get(pk=pending[0].pk).status == Deposit.Status.CONFIRMED
    assert Deposit.objects.get(pk=pending[1].pk).status == Deposit.Status.REJECTED
    assert _available(pending[0].factory_id) == 1_000_000
    assert_audit_clean()


def test_deposits_cannot_be_deleted_from_the_admin(admin_client_, pending):
    deposit = pending[0]

    assert admin_client_.get(f"/admin/pools/deposit/{deposit.pk}/delete/").status_code == 403
    assert admin_client_.post(f"/admin/pools/deposit/{deposit.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_client_.post(
        "/admin/pools/deposit/", {"action": "delete_selected", "_selected_action": [deposit.pk], "post": "yes"}
    )
    assert Deposit.objects.filter(pk=deposit.pk).exists()


@pytest.mark.parametrize("model", ["factory", "deposit", "claim", "submission", "economicsconfig"])
def test_money_models_cannot_be_deleted(admin_client_, creator, model):
    factory = funded_factory(creator)
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    pk = {
        "factory": factory.pk,
        "deposit": Deposit.objects.first().pk,
        "claim": claim.pk,
        "submission": submission.pk,
        "economicsconfig": 1,
    }[model]

    assert admin_client_.get(f"/admin/pools/{model}/{pk}/delete/").status_code == 403
    changelist = admin_client_.get(f"/admin/pools/{model}/", follow=True)
    assert changelist.status_code == 200
    assert b'value="delete_selected"' not in changelist.content


def test_the_factory_list_shows_money_progress_and_filters(admin_client_, creator):
    factory = funded_factory(creator, title="Budget sheet for admin", reward="0.25", target_count=100)
    factory_rate_change(factory=factory, reward="0.3", actor=creator)

    listing = admin_client_.get("/admin/pools/factory/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "Budget sheet for admin" in html
    assert "0.3 USDC" in html
    assert "0 / 100" in html

    assert "Budget sheet for admin" in admin_client_.get("/admin/pools/factory/?q=admin").content.decode()
    assert "Budget sheet for admin" in admin_client_.get(f"/admin/pools/factory/?q={creator.username}").content.decode()
    assert "Budget sheet for admin" not in admin_client_.get("/admin/pools/factory/?q=nomatch").content.decode()
    assert (
        "Budget sheet for admin" not in admin_client_.get("/admin/pools/factory/?status__exact=paused").content.decode()
    )
    filtered = admin_client_.get(f"/admin/pools/factory/?status__exact=active&token__id__exact={factory.token_id}")
    assert "Budget sheet for admin" in filtered.content.decode()

    detail = admin_client_.get(f"/admin/pools/factory/{factory.pk}/change/")
    assert detail.status_code == 200
    page = detail.content.decode()
    assert "available 10 USDC" in page  # the pool, as money
    assert "0.25 USDC" in page and "0.3 USDC" in page  # the rate history inline
    assert 'name="reward"' not in page  # money is not editable here
    assert 'name="title"' not in page


def test_the_factory_admin_cannot_add_or_change_factories(admin_client_, creator):
    factory = funded_factory(creator)

    assert admin_client_.get("/admin/pools/factory/add/").status_code == 403
    admin_client_.post(f"/admin/pools/factory/{factory.pk}/change/", {"title": "hijacked", "reward": "999"})
    factory.refresh_from_db()
    assert factory.title != "hijacked"
    assert factory.reward == 200_000


def test_deposit_list_filters_by_status_and_searches_tx_ref(admin_client_, pending):
    deposit_reject(deposit=pending[1], actor=None)

    pending_only = admin_client_.get("/admin/pools/deposit/?status__exact=pending").content.decode()
    assert "sig-admin-1" in pending_only and "sig-admin-2" not in pending_only
    found = admin_client_.get("/admin/pools/deposit/?q=sig-admin-2").content.decode()
    assert "sig-admin-2" in found and "sig-admin-1" not in found
    assert "0.5 USDC" in found


def test_claims_and_submissions_are_listed_read_only(admin_client_, creator):
    factory = funded_factory(creator)
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    claims = admin_client_.get("/admin/pools/claim/?status__exact=submitted")
    assert claims.status_code == 200
    assert farmer.username in claims.content.decode()
    assert "0.2 USDC" in claims.content.decode()
    assert farmer.username not in admin_client_.get("/admin/pools/claim/?status__exact=open").content.decode()
    submissions = admin_client_.get("/admin/pools/submission/?status__exact=submitted")
    assert submissions.status_code == 200
    assert farmer.username in submissions.content.decode()
    page = admin_client_.get(f"/admin/pools/submission/{submission.pk}/change/").content.decode()
    assert 'name="farmer_reward"' not in page
    assert 'name="quality_score"' not in page
    admin_client_.post(f"/admin/pools/claim/{claim.pk}/change/", {"reward": "1", "status": "open"})
    assert Claim.objects.get(pk=claim.pk).reward == 200_000


def test_economics_settings_are_one_row_without_add_or_delete(admin_client_):
    assert admin_client_.get("/admin/pools/economicsconfig/add/").status_code == 403
    response = admin_client_.get("/admin/pools/economicsconfig/")
    assert response.status_code == 302
    assert response["Location"].endswith("/admin/pools/economicsconfig/1/change/")


def _economics_form(**changes) -> dict:
    return {
        "platform_fee_rate": "0.10",
        "quality_threshold": "0.5",
        "default_claim_timeout_minutes": "60",
        "unstake_cooldown_hours": "72",
        **changes,
    }


def test_a_fee_that_cannot_cover_two_top_tier_commissions_is_refused(admin_client_):
    # The seeded tiers go up to 5%: both sides together may take 10% of G.
    response = admin_client_.post("/admin/pools/economicsconfig/1/change/", _economics_form(platform_fee_rate="0.09"))

    assert response.status_code == 200  # the form again, with the error
    assert 'id="id_platform_fee_rate_error"' in response.content.decode()
    assert EconomicsConfig.objects.get(pk=1).platform_fee_rate == Decimal("0.10")


def test_a_valid_economics_change_is_saved(admin_client_):
    response = admin_client_.post(
        "/admin/pools/economicsconfig/1/change/", _economics_form(platform_fee_rate="0.12", quality_threshold="0.6")
    )

    assert response.status_code == 302
    config = EconomicsConfig.objects.get(pk=1)
    assert (config.platform_fee_rate, config.quality_threshold) == (Decimal("0.12"), Decimal("0.6"))


def test_non_staff_cannot_use_the_admin(creator):
    client = Client()
    client.force_login(creator)

    response = client.get("/admin/pools/deposit/")

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
