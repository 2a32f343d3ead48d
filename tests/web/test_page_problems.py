"""The page problems of issue 19, one test (or a few) each, on the rendered HTML. Each of these
failed before its fix; the problems a browser must see (scrolling, focus, layout widths) are
in tests/e2e/test_page_problems.py.
"""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils.html import escape

from core.templatetags.forge_tags import amount, count, money, score
from ledger.models import Token
from pools.economics import settlement_shares
from pools.models import Claim, Submission
from pools.selectors import economics_config
from pools.services.claims import claim_create
from pools.services.submissions import submission_create, submission_score
from referrals.models import Ambassador, CommissionDay
from referrals.services import ambassador_create, ambassador_set_tier, referral_attach
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.farmers.helpers import settle, submit
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def farmer_client(client, farmer):
    client.force_login(farmer)
    return client


@pytest.fixture
def creator_client(client, creator):
    client.force_login(creator)
    return client


# ---- Pasting non-JSON on the claim page ------------------------------------------------------


@pytest.mark.parametrize(
    ("pasted", "where", "what"),
    [
        ("hello", "at line 1, column 1", "a value was expected here"),
        ('{"steps": [1, 2,]}', "at line 1, column 17", "a value was expected here"),
        ('{\n  "steps": []\n  "notes": ""\n}', "at line 3, column 3", "a comma was expected here"),
        ("{'steps': []}", "at line 1, column 2", "a field name in double quotes was expected here"),
        ('{"notes": "x"} trailing', "at line 1, column 16", "paste one JSON object, nothing after it"),
    ],
)
def test_pasting_non_json_says_where_and_what_in_plain_words(farmer_client, creator, farmer, pasted, where, what):
    claim = claim_create(factory=funded_factory(creator), farmer=farmer)

    response = farmer_client.post(reverse("farmers:claim", args=[claim.pk]), {"demonstration": pasted})

    assert response.status_code == 400
    [error] = response.context["form"].errors["demonstration"]
    assert error.startswith("This is not valid JSON: ")
    assert where in error and what in error
    # Not the parser's own words ("Expecting value: line 1 column 1 (char 0)").
    assert "Expecting" not in error and "char" not in error
    # The format is one click away, and readable.
    page = text(response)
    assert f'href="{reverse("farmers:format")}"' in page
    assert not Submission.objects.exists()
    format_page = text(farmer_client.get(reverse("farmers:format")))
    assert '"started_at": "2026-01-12T09:30:00Z"' in format_page
    assert "double quotes" in format_page


# ---- One coherent status block ---------------------------------------------------------------


def test_a_settled_submission_does_not_still_say_it_is_being_scored(
    farmer_client, creator, farmer, django_capture_on_commit_callbacks
):
    claim = claim_create(factory=funded_factory(creator, reward="0.2"), farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):  # scored and settled at once
        posted = farmer_client.post(
            reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(demonstration())}
        )
    response = farmer_client.get(posted.url)  # where the submit lands, with any flashed message

    page = text(response)
    assert 'data-status="settled"' in page
    assert "being scored" not in page and "scoring it now" not in page
    assert page.count("Status:") == 1


def test_a_waiting_submission_says_received_and_being_scored_in_the_status_block(farmer_client, creator, farmer):
    submission = submit(funded_factory(creator), farmer)

    page = text(farmer_client.get(reverse("farmers:submission", args=[submission.pk])))

    block = page[page.index('id="submission-status"') :]
    assert "Demonstration received. The Data Quality Agent is scoring it now" in block


# ---- Numbers: thousands grouped on pages, exact everywhere --------------------------------------


def test_display_filters_group_thousands_and_keep_every_digit():
    clones = Token.objects.get(symbol="CLONES")
    usdc = Token.objects.get(symbol="USDC")
    assert money(9_955_420_000, usdc) == "9,955.42 USDC"
    assert money(1_000_000 * 10**clones.decimals, clones) == "1,000,000 CLONES"
    assert money(-1_234_567_000_001, usdc) == "-1,234,567.000001 USDC"
    assert amount(999_000_000, usdc) == "999"
    assert count(1000000) == "1,000,000"


def test_pages_group_thousands_and_the_api_keeps_plain_decimals(client, creator_client, creator):
    factory = funded_factory(creator, token="CLONES", reward="25", deposit="1000000")

    page = text(creator_client.get(reverse("pools:factory-detail", args=[factory.pk])))
    assert "1,000,000 CLONES" in page
    assert "1000000 CLONES" not in page

    client.force_login(creator)
    body = client.get(f"/api/v1/factories/{factory.pk}/").json()
    dumped = json.dumps(body)
    assert "1,000,000" not in dumped and '"1000000' in dumped  # exact decimal strings, ungrouped


# ---- Quality as a percentage, like the threshold ------------------------------------------------


def test_scores_are_percentages_beside_the_percentage_threshold(farmer_client, creator, farmer):
    submission = settle(funded_factory(creator), farmer, "0.9022")

    page = text(farmer_client.get(reverse("farmers:submission", args=[submission.pk])))
    assert "<strong data-score>90.2%</strong>" in page
    assert "pays from 50%" in page
    assert "0.9022" not in page
    work = text(farmer_client.get(reverse("farmers:work")))
    assert "90.2%" in work and "0.9022" not in work
    earnings = text(farmer_client.get(reverse("farmers:earnings")))
    assert "90.2%" in earnings and "0.9022" not in earnings


def test_score_filter():
    assert score(Decimal("0.9022")) == "90.2%"
    assert score(Decimal("1")) == "100%"
    assert score(Decimal("0.5000")) == "50%"
    assert score(None) == "–"
    assert score("not a number") == "not a number"  # an outside grader's odd breakdown: as given


# ---- The creator's demonstration preview ----------------------------------------------------------


def test_the_demonstration_preview_shows_json_not_python_and_each_reason_once(creator_client, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    recorded = demonstration()
    recorded["steps"][0]["viewport"] = {"width": 1280, "dark": True, "zoom": None}
    recorded["task"] = {"app": "sheets", "window": {"w": 1280}}
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=recorded)
    submission_score(submission_id=submission.pk)
    submission.refresh_from_db()
    assert submission.score_breakdown and submission.score_reasons

    response = creator_client.get(reverse("pools:factory-demonstration", args=[factory.pk, submission.pk]))

    page = text(response)
    assert "{'" not in page and "True" not in page and "None" not in page  # no Python repr
    assert "viewport: {&quot;dark&quot;: true, &quot;width&quot;: 1280, &quot;zoom&quot;: null}" in page
    assert "window: {&quot;w&quot;: 1280}" in page
    for reason in submission.score_reasons:
        assert page.count(escape(reason)) == 1, reason
    # Scores as percentages; weights as percentages.
    outcome = submission.score_breakdown["outcome"]
    assert score(outcome["score"]) in page


# ---- The login page's site name --------------------------------------------------------------


def test_the_login_page_names_the_site_not_the_host(client, settings):
    settings.FORGE_SITE_NAME = "Forge Pools"

    page = text(client.get(reverse("accounts:login")))

    assert "<title>Log in · Forge Pools</title>" in page
    assert "<strong>Forge Pools</strong>" in page
    assert "testserver" not in page


# ---- A draft factory: an empty state, not three empty charts ------------------------------------


def test_a_draft_factory_says_what_to_do_next_instead_of_empty_charts(creator_client, creator):
    draft = funded_factory(creator, deposit=None)

    page = text(creator_client.get(reverse("pools:factory-detail", args=[draft.pk])))

    assert '<figure class="chart"' not in page
    assert "No activity yet." in page
    assert f'Next step: <a href="{reverse("pools:factory-fund", args=[draft.pk])}">fund the pool</a>' in page


def test_a_factory_with_claims_shows_its_charts(creator_client, creator):
    factory = funded_factory(creator)
    claim_create(factory=factory, farmer=FarmerFactory())

    page = text(creator_client.get(reverse("pools:factory-detail", args=[factory.pk])))

    assert page.count('<figure class="chart"') == 3
    assert "No activity yet." not in page


# ---- Farmers: read a factory before claiming ---------------------------------------------------


def test_the_factory_preview_shows_instructions_time_and_net_pay_and_starts_no_timer(farmer_client, creator, farmer):
    factory = funded_factory(
        creator, reward="0.2", instructions="Make the Budget sheet.", expected_minutes=7, claim_timeout_minutes=45
    )
    browse = text(farmer_client.get(reverse("farmers:browse")))
    assert f'href="{reverse("farmers:factory", args=[factory.pk])}"' in browse

    response = farmer_client.get(reverse("farmers:factory", args=[factory.pk]))

    assert response.status_code == 200
    page = text(response)
    config = economics_config()
    net = settlement_shares(
        reward=factory.reward,
        quality_score=Decimal(1),
        quality_threshold=config.quality_threshold,
        platform_fee_rate=config.platform_fee_rate,
    ).farmer
    assert net < factory.reward  # after the fee
    assert money(net, factory.token) in page
    assert "Make the Budget sheet." in page
    assert "7 min" in page
    assert "starts a 45-minute timer" in page
    assert not Claim.objects.exists()  # reading is free


def test_the_factory_preview_is_for_farmers_and_open_factories_only(client, farmer_client, creator):
    draft = funded_factory(creator, deposit=None)
    assert farmer_client.get(reverse("farmers:factory", args=[draft.pk])).status_code == 404
    assert farmer_client.get(reverse("farmers:factory", args=[999_999])).status_code == 404
    open_factory = funded_factory(creator)
    client.force_login(creator)
    assert client.get(reverse("farmers:factory", args=[open_factory.pk])).status_code == 403


# ---- Farmers: why a submission is held, and for how long ----------------------------------------


def test_a_held_submission_says_why_and_how_long_a_review_takes(farmer_client, creator, farmer, settings):
    settings.FORGE_REVIEW_EXPECTED_HOURS = 48
    submission = submit(funded_factory(creator), farmer)
    Submission.objects.filter(pk=submission.pk).update(
        status=Submission.Status.SCORING,
        quality_score=Decimal("0.8"),
        needs_review=True,
        review_reasons=[
            "Submitted much faster than the expected time.",
            "The grader failed 5 times; last error: ConnectionError('grader.internal:9000')",
        ],
    )

    page = text(farmer_client.get(reverse("farmers:submission", args=[submission.pk])))

    block = page[page.index('id="hold-notice"') :]
    assert "Expect an answer within <strong>2.0 days</strong>" in block
    assert "Submitted much faster than the expected time." in block
    assert "The automatic scoring failed several times" in block
    assert "grader.internal" not in page  # staff's business, not the farmer's


# ---- The demo ambassador and the two commissions -----------------------------------------------


def test_the_demo_ambassador_has_a_stake_a_tier_and_commissions_on_both_sides(client):
    call_command("seed_demo", stdout=io.StringIO())

    carol = Ambassador.objects.select_related("user").get(user__username="carol")
    assert carol.tier == 2
    days = CommissionDay.objects.filter(user_id=carol.user_id)
    assert sum(day.farmer_side for day in days) > 0  # dave, a farmer she referred
    assert sum(day.factory_side for day in days) > 0  # alice, a creator she referred
    assert_audit_clean()

    client.force_login(carol.user)
    page = text(client.get(reverse("referrals:dashboard")))
    assert 'Staked: <strong class="money">10 CLONES</strong>' in page
    assert "Commissions by side" in page
    assert "No commissions yet" not in page


def test_the_dashboard_explains_both_commissions(client, staff):
    ambassador_user = FarmerFactory()
    ambassador, _ = ambassador_create(user=ambassador_user)
    ambassador_set_tier(ambassador=ambassador, tier=1, actor=staff)
    farmer, creator = FarmerFactory(), CreatorFactory()
    referral_attach(user=farmer, ambassador=ambassador)
    referral_attach(user=creator, ambassador=ambassador)
    settle(funded_factory(creator, reward="1"), farmer, "1")  # G = 1 USDC: 0.01 on each side

    client.force_login(ambassador_user)
    page = text(client.get(reverse("referrals:dashboard")))

    assert "1% when a farmer you referred is paid and 1% when work in a factory of a creator you referred" in page
    sides = page[page.index('id="commission-sides"') :]
    assert (
        '<th scope="row">USDC</th><td class="num money">0.01 USDC</td>'
        '<td class="num money">0.01 USDC</td><td class="num money">0.02 USDC</td>'
    ) in sides
    assert "Farmer side</strong>: when the farmer who did the work signed up with your code" in page
    assert "Creator side</strong>: when the factory's creator signed up with your code" in page
    assert "commissions come out of that fee: the farmer's pay does not change" in page
