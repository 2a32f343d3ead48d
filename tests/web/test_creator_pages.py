"""The factory creator's pages: who may open them, forms that show the services' errors next
to the fields, the create → fund → rate → pause/resume → close journey with a clean ledger,
the factory detail (submissions, charts, participation, low-participation hint), and query
counts that do not grow with the data."""

import re
import xml.etree.ElementTree as ET
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from core.templatetags.forge_tags import hours
from ledger.models import Account
from pools.models import Claim, Deposit, Factory, RateChange
from pools.selectors import PARTICIPATION_GRACE_HOURS
from pools.services.claims import claim_create
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def creator_client(client, creator):
    client.force_login(creator)
    return client


def _pages(factory) -> list[str]:
    """Every GET page of the creator area for one factory."""
    return [
        reverse("pools:dashboard"),
        reverse("pools:factory-create"),
        reverse("pools:factory-detail", args=[factory.pk]),
        reverse("pools:factory-submissions", args=[factory.pk]),
        reverse("pools:factory-edit", args=[factory.pk]),
        reverse("pools:factory-fund", args=[factory.pk]),
        reverse("pools:factory-rate", args=[factory.pk]),
        reverse("pools:factory-close", args=[factory.pk]),
    ]


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _field_errors(html: str, field: str) -> str:
    """The text of the error list rendered next to a field (id_<field>_error)."""
    match = re.search(rf'<ul id="id_{field}_error" class="field-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


def _settle(factory, *, score: str, staff, capture) -> None:
    """A farmer claims, submits and is scored `score` by staff (settled after commit)."""
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    with capture(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    with capture(execute=True):
        submission_review(submission_id=submission.pk, reviewer=staff, quality_score=score)


def _pool(factory) -> tuple[int, int]:
    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    return factory.available_account.balance, factory.reserved_account.balance


def _creator_balance(user, token) -> int:
    account = Account.objects.filter(kind=Account.Kind.USER_BALANCE, holder=f"user:{user.pk}", token=token).first()
    return account.balance if account else 0


# ---- Who may open what --------------------------------------------------------------------


def test_every_creator_page_renders_for_the_owner(creator_client, creator):
    factory = funded_factory(creator, deposit="1")

    for url in _pages(factory):
        response = creator_client.get(url)
        assert response.status_code == 200, url


def test_anonymous_visitors_are_sent_to_log_in(client, creator):
    factory = funded_factory(creator, deposit="1")

    for url in _pages(factory):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("accounts:login") + "?next="), url


def test_farmers_get_the_forbidden_page(client, creator, farmer):
    factory = funded_factory(creator, deposit="1")
    client.force_login(farmer)

    for url in _pages(factory):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"Not allowed" in response.content
    response = client.post(reverse("pools:factory-pause", args=[factory.pk]))
    assert response.status_code == 403
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE


def test_another_creators_factory_answers_as_the_api_does(client, creator):
    """pools.access: looking at someone else's factory is a 404 (it is not visible to them),
    acting on it a 403, on pages as in the API."""
    factory = funded_factory(creator, deposit="1")
    client.force_login(CreatorFactory())

    for name in ("pools:factory-detail", "pools:factory-submissions"):
        assert client.get(reverse(name, args=[factory.pk])).status_code == 404, name
    for name in ("pools:factory-edit", "pools:factory-fund", "pools:factory-rate", "pools:factory-close"):
        assert client.get(reverse(name, args=[factory.pk])).status_code == 403, name
    for name in ("pools:factory-pause", "pools:factory-close", "pools:factory-rate", "pools:factory-fund"):
        assert (
            client.post(reverse(name, args=[factory.pk]), {"reward": "9", "amount": "9", "tx_ref": "x"}).status_code
            == 403
        )
    factory.refresh_from_db()
    assert (factory.status, factory.reward) == (Factory.Status.ACTIVE, 200_000)
    assert not Deposit.objects.filter(tx_ref="x").exists()


def test_the_dashboard_lists_only_my_factories(creator_client, creator):
    funded_factory(creator, title="Mine", deposit="1")
    funded_factory(CreatorFactory(), title="Somebody else's", deposit="1")

    html = creator_client.get(reverse("pools:dashboard")).content.decode()

    assert "Mine" in html
    assert "Somebody else" not in html


def test_posts_without_the_csrf_token_are_refused(creator):
    factory = funded_factory(creator, deposit="1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(creator)

    response = client.post(reverse("pools:factory-close", args=[factory.pk]))

    assert response.status_code == 403
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE
    page = client.get(reverse("pools:factory-close", args=[factory.pk])).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_status_changes_need_a_post(creator_client, creator):
    factory = funded_factory(creator, deposit="1")

    assert creator_client.get(reverse("pools:factory-pause", args=[factory.pk])).status_code == 405
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE


# ---- Forms show the services' errors next to the fields ------------------------------------


def test_an_over_precise_reward_is_refused_next_to_the_reward_field(creator_client):
    response = creator_client.post(
        reverse("pools:factory-create"),
        {
            "title": "Budget sheet",
            "instructions": "Make a budget sheet",
            "token": "USDC",
            "reward": "0.1234567",
            "expected_minutes": "10",
            "claim_timeout_minutes": "60",
            "min_reputation": "0",
            "target_count": "5",
        },
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "At most 6 decimal places" in _field_errors(html, "reward")
    assert "between 10 and 100,000" in _field_errors(html, "target_count")
    assert 'aria-invalid="true"' in html
    assert not Factory.objects.exists()


def test_a_missing_title_and_a_bad_number_are_shown_next_to_their_fields(creator_client):
    response = creator_client.post(
        reverse("pools:factory-create"),
        {"title": "", "instructions": "x", "token": "USDC", "reward": "0.2", "expected_minutes": "ten"},
    )

    html = response.content.decode()
    assert "required" in _field_errors(html, "title")
    assert "whole number" in _field_errors(html, "expected_minutes")
    assert not Factory.objects.exists()


def test_a_zero_deposit_is_refused_next_to_the_amount(creator_client, creator):
    factory = funded_factory(creator, deposit="1")

    response = creator_client.post(reverse("pools:factory-fund", args=[factory.pk]), {"amount": "0", "tx_ref": "sig-z"})

    assert response.status_code == 200
    assert "greater than zero" in _field_errors(response.content.decode(), "amount")
    assert not Deposit.objects.filter(tx_ref="sig-z").exists()
    assert _pool(factory) == (1_000_000, 0)


def test_a_repeated_transaction_reference_is_refused_with_a_message_and_changes_nothing(creator_client, creator):
    factory = funded_factory(creator, deposit=None)
    url = reverse("pools:factory-fund", args=[factory.pk])
    creator_client.post(url, {"amount": "2", "tx_ref": "sig-dup"}, follow=True)
    deposits_before = Deposit.objects.count()

    response = creator_client.post(url, {"amount": "5", "tx_ref": "sig-dup"})

    assert response.status_code == 200
    assert _messages(response) == ["Transaction sig-dup was already credited for USDC."]
    assert Deposit.objects.count() == deposits_before
    assert _pool(factory) == (2_000_000, 0)
    assert_audit_clean()


def test_a_deposit_waits_for_confirmation_when_autoconfirm_is_off(settings, creator_client, creator):
    settings.FORGE_DEPOSITS_AUTOCONFIRM = False
    factory = funded_factory(creator, deposit=None)

    response = creator_client.post(
        reverse("pools:factory-fund", args=[factory.pk]), {"amount": "3", "tx_ref": "sig-wait"}, follow=True
    )

    assert any("once transaction sig-wait is confirmed" in text for text in _messages(response))
    assert Deposit.objects.get(tx_ref="sig-wait").status == Deposit.Status.PENDING
    assert _pool(factory) == (0, 0)
    fund_page = creator_client.get(reverse("pools:factory-fund", args=[factory.pk])).content.decode()
    assert "Pending confirmation" in fund_page
    assert "is <strong>pending</strong> until its transaction is confirmed" in fund_page


def test_an_over_precise_rate_is_refused_and_the_reward_stays(creator_client, creator):
    factory = funded_factory(creator, deposit="1")

    response = creator_client.post(reverse("pools:factory-rate", args=[factory.pk]), {"reward": "0.0000001"})

    assert "At most 6 decimal places" in _field_errors(response.content.decode(), "reward")
    assert Factory.objects.get(pk=factory.pk).reward == 200_000
    assert RateChange.objects.filter(factory=factory).count() == 1


def test_editing_a_closed_factory_is_refused_with_a_message(creator_client, creator):
    factory = funded_factory(creator, deposit="1")
    creator_client.post(reverse("pools:factory-close", args=[factory.pk]), follow=True)

    response = creator_client.post(
        reverse("pools:factory-edit", args=[factory.pk]),
        {
            "title": "New",
            "instructions": "x",
            "expected_minutes": "5",
            "claim_timeout_minutes": "60",
            "min_reputation": "0",
        },
    )

    assert _messages(response) == ["A closed factory cannot be edited."]
    assert Factory.objects.get(pk=factory.pk).title != "New"


# ---- The journey through the pages ---------------------------------------------------------


def test_create_fund_rate_pause_resume_close_through_the_pages(creator_client, creator):
    response = creator_client.post(
        reverse("pools:factory-create"),
        {
            "title": "Budget sheet",
            "description": "Household budgets",
            "instructions": "Create a spreadsheet named Budget and fill in a month.",
            "category": "spreadsheets",
            "tags": "sheets, budget",
            "token": "USDC",
            "reward": "0.2",
            "target_count": "100",
            "expected_minutes": "8",
            "claim_timeout_minutes": "45",
            "per_farmer_limit": "3",
            "min_reputation": "10",
        },
        follow=True,
    )
    factory = Factory.objects.get(creator=creator)
    assert response.redirect_chain[-1][0] == reverse("pools:factory-detail", args=[factory.pk])
    assert any("created" in text for text in _messages(response))
    assert (factory.status, factory.reward, factory.target_count, factory.per_farmer_limit) == (
        "draft",
        200_000,
        100,
        3,
    )
    assert (factory.claim_timeout_minutes, factory.category, str(factory.min_reputation)) == (
        45,
        "spreadsheets",
        "10.00",
    )
    assert "Fund the pool to start" in response.content.decode()

    response = creator_client.post(
        reverse("pools:factory-fund", args=[factory.pk]), {"amount": "1.5", "tx_ref": "sig-journey"}, follow=True
    )
    assert "Deposit of 1.5 USDC confirmed and added to the pool." in _messages(response)
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE
    assert _pool(factory) == (1_500_000, 0)
    html = response.content.decode()
    assert 'class="pool-bar" role="img" aria-label="Pool: 1.5 USDC available, 0 USDC reserved' in html

    claim = claim_create(factory=factory, farmer=FarmerFactory(role="farmer"))  # reserves the old rate

    response = creator_client.post(reverse("pools:factory-rate", args=[factory.pk]), {"reward": "0.25"}, follow=True)
    assert "Reward changed from 0.2 USDC to 0.25 USDC. It applies to new claims." in _messages(response)
    assert Factory.objects.get(pk=factory.pk).reward == 250_000
    assert Claim.objects.get(pk=claim.pk).reward == 200_000
    history = response.content.decode().split('id="history-title"')[1]
    assert history.index("0.25 USDC") < history.index("initial")  # newest first, the initial rate last

    response = creator_client.post(reverse("pools:factory-pause", args=[factory.pk]), follow=True)
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.PAUSED
    assert any("is paused" in text for text in _messages(response))
    response = creator_client.post(reverse("pools:factory-resume", args=[factory.pk]), follow=True)
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.ACTIVE
    assert any("is active again" in text for text in _messages(response))

    confirm = creator_client.get(reverse("pools:factory-close", args=[factory.pk])).content.decode()
    assert "Closing is final" in confirm and "1.3 USDC" in confirm  # 1.5 minus the 0.2 reserved
    response = creator_client.post(reverse("pools:factory-close", args=[factory.pk]), follow=True)
    factory.refresh_from_db()
    assert factory.status == Factory.Status.CLOSED
    text = " ".join(_messages(response))
    assert "1.3 USDC returned to your balance" in text
    assert "0.2 USDC still held by open claims" in text
    assert _creator_balance(creator, factory.token) == 1_300_000
    assert _pool(factory) == (0, 200_000)
    response = creator_client.post(reverse("pools:factory-close", args=[factory.pk]), follow=True)
    assert _messages(response) == ["“Budget sheet” is already closed."]
    assert _creator_balance(creator, factory.token) == 1_300_000
    assert_audit_clean()


def test_pausing_from_the_dashboard_returns_to_the_dashboard_and_ignores_outside_targets(creator_client, creator):
    factory = funded_factory(creator, deposit="1")
    dashboard = reverse("pools:dashboard")

    response = creator_client.post(reverse("pools:factory-pause", args=[factory.pk]), {"next": dashboard})
    assert response["Location"] == dashboard

    response = creator_client.post(
        reverse("pools:factory-resume", args=[factory.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("pools:factory-detail", args=[factory.pk])


def test_pausing_a_closed_factory_says_why_not(creator_client, creator):
    factory = funded_factory(creator, deposit="1")
    creator_client.post(reverse("pools:factory-close", args=[factory.pk]), follow=True)

    response = creator_client.post(reverse("pools:factory-pause", args=[factory.pk]), follow=True)

    assert _messages(response) == ["A closed factory cannot be paused."]
    assert Factory.objects.get(pk=factory.pk).status == Factory.Status.CLOSED


def test_editing_saves_the_details(creator_client, creator):
    factory = funded_factory(creator, deposit="1")
    form = creator_client.get(reverse("pools:factory-edit", args=[factory.pk])).content.decode()
    assert 'value="Make a budget sheet"' in form

    response = creator_client.post(
        reverse("pools:factory-edit", args=[factory.pk]),
        {
            "title": "Monthly budget",
            "instructions": "New instructions",
            "expected_minutes": "12",
            "claim_timeout_minutes": "30",
            "min_reputation": "0",
            "target_count": "",
        },
        follow=True,
    )

    assert "Your changes to the factory were saved." in _messages(response)
    factory.refresh_from_db()
    assert (factory.title, factory.expected_minutes, factory.target_count) == ("Monthly budget", 12, None)


# ---- The factory detail --------------------------------------------------------------------


def test_the_detail_lists_submissions_with_scores_and_payouts(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.2", deposit="1")
    _settle(factory, score="0.75", staff=staff, capture=django_capture_on_commit_callbacks)

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()

    submissions = html[html.index('id="submissions"') :]
    assert "Settled" in submissions
    assert "75%" in submissions  # the score as a percentage, like the threshold
    assert "0.15 USDC" in submissions  # gross = 0.2 x 0.75
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" data-localize="datetime">', submissions)
    assert 'hx-trigger="every 15s"' in submissions


def test_the_submissions_table_paginates_by_25(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.01", deposit="1")
    for _ in range(26):
        farmer = FarmerFactory()
        claim = claim_create(factory=factory, farmer=farmer)
        with django_capture_on_commit_callbacks(execute=True):
            submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    first = creator_client.get(reverse("pools:factory-submissions", args=[factory.pk])).content.decode()
    second = creator_client.get(reverse("pools:factory-submissions", args=[factory.pk]) + "?page=2").content.decode()

    assert "<html" not in first  # the fragment htmx swaps in, not a whole page
    assert first.count("<tr>") == 26  # header + 25
    assert second.count("<tr>") == 2
    assert "Page 1 of 2" in first


def test_the_quality_chart_counts_final_scores_per_bin(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.1", deposit="1")
    for score in ("0.05", "0.55", "0.55", "0.95", "1"):
        _settle(factory, score=score, staff=staff, capture=django_capture_on_commit_callbacks)

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()

    figure = html[html.index('<figure class="chart" id="quality-chart">') :]
    root = ET.fromstring(figure[figure.index("<svg") : figure.index("</svg>") + len("</svg>")])
    bars = [int(rect.get("data-value")) for rect in root.iter(f"{SVG}rect")]
    assert bars == [1, 0, 0, 0, 0, 2, 0, 0, 0, 2]
    spend = html[html.index('<figure class="chart" id="spend-chart">') :]
    spend_root = ET.fromstring(spend[spend.index("<svg") : spend.index("</svg>") + len("</svg>")])
    # Paid today: 0.1 x (0.55 + 0.55 + 0.95 + 1) = 0.305 USDC; the 0.05 was rejected (0 paid).
    assert [int(point.get("data-value")) for point in spend_root.iter(f"{SVG}circle")][-1] == 305_000


def test_participation_shows_rates_fill_and_time_to_fill(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.1", deposit="5", target_count=10)
    for _ in range(2):
        _settle(factory, score="0.9", staff=staff, capture=django_capture_on_commit_callbacks)

    response = creator_client.get(reverse("pools:factory-detail", args=[factory.pk]))

    participation = response.context["participation"]
    assert (participation.claims, participation.submissions, participation.accepted) == (2, 2, 2)
    assert participation.fill_rate == 0.2
    # 8 slots left at 2 accepted per ~23-24 hours: about 4 days.
    assert 23 * 4 <= participation.hours_to_fill <= 24 * 4
    html = response.content.decode()
    assert "2 / 10 accepted (20%)" in html
    assert f"<dd>{hours(participation.hours_to_fill)}</dd>" in html  # "3.8 days" .. "4.0 days"
    assert "Participation is low" not in html


def test_an_open_target_has_no_time_to_fill(creator_client, creator):
    factory = funded_factory(creator, deposit="1")

    response = creator_client.get(reverse("pools:factory-detail", args=[factory.pk]))

    assert response.context["participation"].hours_to_fill is None
    assert "open target" in response.content.decode()


def _opened_hours_ago(factory, hours: float) -> None:
    """Move the factory's creation and deposits `hours` into the past (past the grace period)."""
    moment = timezone.now() - timedelta(hours=hours)
    Factory.objects.filter(pk=factory.pk).update(created_at=moment)
    Deposit.objects.filter(factory=factory).update(created_at=moment)


def test_no_low_participation_hint_in_the_grace_period_after_funding(creator_client, creator):
    # Reported: "Participation is low" seconds after the first deposit. The hint measures the
    # last 24 hours; it waits until the factory has been open and funded that long.
    factory = funded_factory(creator, reward="0.1", deposit="1")
    _opened_hours_ago(factory, PARTICIPATION_GRACE_HOURS - 1)

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()
    assert "Participation is low" not in html

    # An old draft funded just now is as new: the grace period counts from the first deposit.
    Factory.objects.filter(pk=factory.pk).update(created_at=timezone.now() - timedelta(days=30))
    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()
    assert "Participation is low" not in html

    _opened_hours_ago(factory, PARTICIPATION_GRACE_HOURS + 1)
    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()
    assert "Participation is low" in html


def test_low_participation_suggests_the_median_rate_of_similar_factories(creator_client, creator):
    factory = funded_factory(creator, reward="0.1", deposit="1", category="spreadsheets")
    _opened_hours_ago(factory, PARTICIPATION_GRACE_HOURS + 1)
    others = CreatorFactory()
    for reward in ("0.2", "0.3", "0.5"):
        funded_factory(others, reward=reward, deposit="1", category="spreadsheets")
    funded_factory(others, reward="9", deposit="9", category="browsing")  # another category
    funded_factory(others, reward="9", deposit="9", token="SOL", category="spreadsheets")  # another token

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()

    hint = html[html.index('id="participation-hint"') :]
    hint = hint[: hint.index("</article>")]
    assert "Participation is low: consider raising the rate" in hint
    assert "No farmer claimed a task in the last 24 hours." in hint
    assert "0.3 USDC" in hint and "(3 factories)" in hint


def test_no_low_participation_hint_once_farmers_claim(creator_client, creator):
    factory = funded_factory(creator, reward="0.1", deposit="1")
    _opened_hours_ago(factory, 48)
    claim_create(factory=factory, farmer=FarmerFactory())

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()

    assert "Participation is low" not in html


def test_old_claims_do_not_count_as_participation(creator_client, creator):
    factory = funded_factory(creator, reward="0.1", deposit="1")
    _opened_hours_ago(factory, 48)
    claim = claim_create(factory=factory, farmer=FarmerFactory())
    Claim.objects.filter(pk=claim.pk).update(created_at=timezone.now() - timedelta(hours=30))

    response = creator_client.get(reverse("pools:factory-detail", args=[factory.pk]))

    assert response.context["participation"].claims == 0
    assert "Participation is low" in response.content.decode()


def test_an_underfunded_factory_asks_for_funding_instead_of_a_higher_rate(creator_client, creator):
    factory = funded_factory(creator, reward="0.5", deposit="0.4")

    html = creator_client.get(reverse("pools:factory-detail", args=[factory.pk])).content.decode()

    assert "The pool cannot pay one more reward" in html
    assert "Participation is low" not in html


# ---- A constant number of queries ----------------------------------------------------------


def _query_count(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_dashboard_runs_the_same_queries_for_one_factory_or_many(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    settings.FORGE_GRADER = "manual"
    url = reverse("pools:dashboard")
    first = funded_factory(creator, deposit="1")
    baseline = _query_count(creator_client, url)

    _settle(first, score="0.8", staff=staff, capture=django_capture_on_commit_callbacks)
    for index in range(6):
        factory = funded_factory(creator, deposit="1", title=f"Factory {index}")
        _settle(factory, score="0.6", staff=staff, capture=django_capture_on_commit_callbacks)

    with django_assert_max_num_queries(baseline):
        response = creator_client.get(url)
    assert len(response.context["rows"]) == 7


def test_the_factory_detail_runs_the_same_queries_for_any_number_of_submissions(
    settings, creator_client, creator, staff, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator, reward="0.1", deposit="5", target_count=100)
    url = reverse("pools:factory-detail", args=[factory.pk])
    _settle(factory, score="0.8", staff=staff, capture=django_capture_on_commit_callbacks)
    baseline = _query_count(creator_client, url)

    for score in ("0.2", "0.6", "0.9", "0.7", "0.4", "1"):
        _settle(factory, score=score, staff=staff, capture=django_capture_on_commit_callbacks)
    claim_create(factory=factory, farmer=FarmerFactory())

    with django_assert_max_num_queries(baseline):
        response = creator_client.get(url)
    assert len(response.context["page_obj"].object_list) == 7
