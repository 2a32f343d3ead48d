"""The farmer's pages: browse (filters, sorting, pagination, locks, constant queries), claim,
submit (pasted JSON or an uploaded export), live status, earnings and withdrawals, and who
may see what."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import Withdrawal
from core.templatetags.forge_tags import score as score_percent
from farmers.models import FarmerProfile
from farmers.services import reputation_recompute
from ledger.models import Account
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration, withdrawal_wallet
from tests.farmers.helpers import settle, settle_submission, submit
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

BROWSE = reverse("farmers:browse")
SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"


@pytest.fixture
def farmer_client(client, farmer):
    client.force_login(farmer)
    return client


def titles(response) -> list[str]:
    return [row.factory.title for row in response.context["rows"]]


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


# ---- Browse ---------------------------------------------------------------------------------


def test_browse_lists_only_active_funded_factories_that_are_not_full(farmer_client, creator):
    funded_factory(creator, title="Open")
    funded_factory(creator, title="Never funded", deposit=None)  # still a draft
    funded_factory(creator, title="Cannot pay one reward", reward="0.2", deposit="0.1")
    full = funded_factory(creator, title="Full", target_count=10, deposit="5")
    for _ in range(10):
        claim_create(factory=full, farmer=FarmerFactory())

    response = farmer_client.get(BROWSE)

    assert response.status_code == 200
    assert titles(response) == ["Open"]


def test_each_row_shows_reward_slots_expected_minutes_and_acceptance_rate(farmer_client, creator):
    factory = funded_factory(creator, title="Sheets", reward="0.25", target_count=20, expected_minutes=7, deposit="10")
    for score in ("0.9", "0.8", "0.1"):  # two accepted, one rejected
        settle(factory, FarmerFactory(), score)

    response = farmer_client.get(BROWSE)

    (row,) = response.context["rows"]
    assert row.slots_left == 18
    assert row.acceptance_rate == Decimal("0.667")
    page = text(response)
    assert "0.25 USDC" in page
    assert '<td data-label="Slots left">18</td>' in page
    assert "7 min" in page
    assert "66.7%" in page
    assert "of 3" in page


def test_a_factory_without_settled_work_says_so_instead_of_a_rate(farmer_client, creator):
    funded_factory(creator, title="New")

    response = farmer_client.get(BROWSE)

    assert response.context["rows"][0].acceptance_rate is None
    assert "No results yet" in text(response)


def test_premium_factories_are_listed_locked_with_the_missing_points(farmer_client, creator, farmer):
    funded_factory(creator, title="Premium", min_reputation=Decimal("72.5"))
    funded_factory(creator, title="Open to all")

    response = farmer_client.get(BROWSE)

    rows = {row.factory.title: row for row in response.context["rows"]}
    assert rows["Premium"].locked is True
    assert rows["Premium"].missing_points == Decimal("22.50")  # a newcomer has 50
    assert rows["Open to all"].locked is False
    page = text(response)
    assert "22.50 points to go" in page
    premium_claim = reverse("farmers:claim_start", args=[rows["Premium"].factory.pk])
    assert premium_claim not in page  # no claim button on a locked row
    assert reverse("farmers:claim_start", args=[rows["Open to all"].factory.pk]) in page


def test_a_farmer_with_enough_reputation_sees_premium_unlocked(farmer_client, creator, farmer):
    FarmerProfile.objects.create(user=farmer, reputation=Decimal("80"))
    factory = funded_factory(creator, title="Premium", min_reputation=Decimal("72.5"))

    response = farmer_client.get(BROWSE)

    assert response.context["rows"][0].locked is False
    assert reverse("farmers:claim_start", args=[factory.pk]) in text(response)


def test_filters_by_token_minimum_reward_and_category(farmer_client, creator):
    funded_factory(creator, title="USDC small", reward="0.1", category="sheets")
    funded_factory(creator, title="USDC big", reward="0.5", category="sheets")
    funded_factory(creator, title="USDC big mail", reward="0.5", category="email")
    funded_factory(creator, title="SOL", token="SOL", reward="0.5", deposit="5", category="sheets")

    assert sorted(titles(farmer_client.get(BROWSE, {"token": "SOL"}))) == ["SOL"]
    assert sorted(titles(farmer_client.get(BROWSE, {"token": "USDC", "min_reward": "0.2"}))) == [
        "USDC big",
        "USDC big mail",
    ]
    assert sorted(titles(farmer_client.get(BROWSE, {"token": "USDC", "min_reward": "0.5", "category": "sheets"}))) == [
        "USDC big"
    ]
    assert sorted(titles(farmer_client.get(BROWSE, {"category": "email"}))) == ["USDC big mail"]


def test_a_minimum_reward_needs_a_token_and_a_valid_amount(farmer_client, creator):
    funded_factory(creator, title="Any")

    without_token = farmer_client.get(BROWSE, {"min_reward": "0.2"})
    over_precise = farmer_client.get(BROWSE, {"token": "USDC", "min_reward": "0.0000001"})

    assert "Choose a token" in without_token.context["form"].errors["min_reward"][0]
    assert titles(without_token) == ["Any"]  # the invalid filter is ignored, not fatal
    assert "At most 6 decimal places" in over_precise.context["form"].errors["min_reward"][0]
    assert 'aria-invalid="true"' in text(over_precise)


def test_unlocked_and_premium_filters(farmer_client, creator, farmer):
    FarmerProfile.objects.create(user=farmer, reputation=Decimal("65"))
    funded_factory(creator, title="Plain")
    funded_factory(creator, title="Premium reachable", min_reputation=Decimal("60"))
    funded_factory(creator, title="Premium locked", min_reputation=Decimal("90"))

    assert sorted(titles(farmer_client.get(BROWSE, {"access": "unlocked"}))) == ["Plain", "Premium reachable"]
    assert sorted(titles(farmer_client.get(BROWSE, {"access": "premium"}))) == ["Premium locked", "Premium reachable"]
    assert len(titles(farmer_client.get(BROWSE, {"access": "all"}))) == 3


def test_sorting_by_reward_newest_and_slots_left(farmer_client, creator):
    funded_factory(creator, title="Cheap, open-ended", reward="0.1")
    funded_factory(creator, title="Rich, 10 slots", reward="0.9", target_count=10)
    funded_factory(creator, title="Middle, 50 slots", reward="0.5", target_count=50, deposit="30")

    by_reward = titles(farmer_client.get(BROWSE, {"token": "USDC", "sort": "reward"}))
    newest = titles(farmer_client.get(BROWSE, {"sort": "newest"}))
    by_slots = titles(farmer_client.get(BROWSE, {"sort": "slots"}))

    assert by_reward == ["Rich, 10 slots", "Middle, 50 slots", "Cheap, open-ended"]
    assert newest == ["Middle, 50 slots", "Rich, 10 slots", "Cheap, open-ended"]
    assert by_slots == ["Cheap, open-ended", "Middle, 50 slots", "Rich, 10 slots"]  # open-ended first


def test_browse_is_paginated_by_25_and_keeps_the_filters_in_the_page_links(farmer_client, creator):
    for index in range(27):
        funded_factory(creator, title=f"Factory {index:02}", reward="0.1", deposit="0.1")

    first = farmer_client.get(BROWSE, {"token": "USDC"})
    second = farmer_client.get(BROWSE, {"token": "USDC", "page": 2})

    assert len(first.context["rows"]) == 25
    assert len(second.context["rows"]) == 2
    assert "?token=USDC&amp;page=2" in text(first)
    assert set(titles(first)).isdisjoint(titles(second))


def test_browse_runs_the_same_number_of_queries_for_5_or_60_factories(farmer_client, creator):
    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as context:
            response = farmer_client.get(BROWSE, {"sort": "slots"})
        assert response.status_code == 200
        return len(context.captured_queries)

    tokens = ["USDC", "SOL", "CLONES"]
    for index in range(5):
        funded_factory(creator, title=f"F{index}", token=tokens[index % 3], reward="1", deposit="1", target_count=10)
    few = queries_for_page()
    for index in range(5, 60):
        factory = funded_factory(
            creator, title=f"F{index}", token=tokens[index % 3], reward="1", deposit="2", target_count=10
        )
        if index % 10 == 0:
            settle(factory, FarmerFactory(), "0.9")
    many = queries_for_page()

    assert many == few


def test_browse_query_count_has_a_ceiling(farmer_client, creator, django_assert_max_num_queries):
    for index in range(40):
        funded_factory(creator, title=f"F{index}", reward="0.1", deposit="0.2", category=f"c{index % 4}")

    with django_assert_max_num_queries(12):
        response = farmer_client.get(BROWSE, {"token": "USDC", "min_reward": "0.05", "sort": "reward"})

    assert len(response.context["rows"]) == 25


# ---- Claim, submit, watch ------------------------------------------------------------------------


def test_claiming_from_the_page_shows_the_instructions_expiry_and_a_submission_form(farmer_client, creator, farmer):
    factory = funded_factory(creator, instructions="Open the Budget sheet and total column B.")

    response = farmer_client.post(reverse("farmers:claim_start", args=[factory.pk]), follow=True)

    claim = Claim.objects.get(farmer=farmer, factory=factory)
    assert response.redirect_chain[-1][0] == reverse("farmers:claim", args=[claim.pk])
    page = text(response)
    assert "Open the Budget sheet and total column B." in page
    assert claim.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ") in page  # the expiry, as a <time>
    assert 'name="demonstration"' in page
    assert 'name="recording"' in page
    assert "Claimed: " in page  # the success message


def test_a_premium_claim_below_the_minimum_is_refused_with_the_missing_points(farmer_client, creator, farmer):
    factory = funded_factory(creator, title="Premium", min_reputation=Decimal("60"))

    response = farmer_client.post(reverse("farmers:claim_start", args=[factory.pk]), follow=True)

    assert response.redirect_chain[-1][0] == BROWSE
    assert "needs a reputation of 60.00; yours is 50.00 (10.00 points to go)" in text(response)
    assert not Claim.objects.filter(factory=factory).exists()
    factory.available_account.refresh_from_db()
    assert factory.available_account.balance == 10_000_000  # nothing reserved


def test_a_second_open_claim_on_the_same_factory_is_refused(farmer_client, creator, farmer):
    factory = funded_factory(creator)
    url = reverse("farmers:claim_start", args=[factory.pk])
    farmer_client.post(url)

    response = farmer_client.post(url, follow=True)

    assert "You already hold an open claim on this factory" in text(response)
    assert Claim.objects.filter(factory=factory, farmer=farmer).count() == 1


def test_the_per_farmer_limit_is_enforced_from_the_page(farmer_client, creator, farmer):
    factory = funded_factory(creator, per_farmer_limit=1)
    submit(factory, farmer)

    response = farmer_client.post(reverse("farmers:claim_start", args=[factory.pk]), follow=True)

    assert "at most 1 demonstration(s) per farmer" in text(response)
    assert Claim.objects.filter(factory=factory, farmer=farmer).count() == 1


def test_submitting_pasted_json_shows_the_submission_with_live_polling(farmer_client, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)

    response = farmer_client.post(
        reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(demonstration())}, follow=True
    )

    submission = Submission.objects.get(claim=claim)
    assert response.redirect_chain[-1][0] == reverse("farmers:submission", args=[submission.pk])
    page = text(response)
    assert f'hx-get="{reverse("farmers:submission_status", args=[submission.pk])}?seen=submitted' in page
    assert 'hx-trigger="every 2s"' in page
    assert "Submitted" in page
    assert "{#" not in page
    assert "{%" not in page


def test_the_status_poll_answers_204_until_something_changes(farmer_client, creator, farmer):
    submission = submit(funded_factory(creator), farmer)
    url = reverse("farmers:submission_status", args=[submission.pk])
    first = farmer_client.get(url)
    seen = re.search(r'\?seen=([^"]+)"', first.content.decode()).group(1)

    unchanged = farmer_client.get(url + "?seen=" + seen)
    settle_submission(submission, "0.9")
    changed = farmer_client.get(url + "?seen=" + seen)

    assert first.status_code == 200
    assert unchanged.status_code == 204
    assert changed.status_code == 200
    assert "hx-trigger" not in changed.content.decode()  # final: polling stops
    assert "Settled" in changed.content.decode()


def test_uploading_a_recording_export_submits_it(farmer_client, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    export = SimpleUploadedFile("recording.json", json.dumps(demonstration()).encode(), "application/json")

    response = farmer_client.post(reverse("farmers:claim", args=[claim.pk]), {"recording": export})

    assert response.status_code == 302
    assert Submission.objects.filter(claim=claim).exists()


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"demonstration": "{not json"}, "demonstration", "This is not valid JSON"),
        ({"demonstration": json.dumps({"steps": []})}, "demonstration", "started_at: This field is required."),
        ({}, "demonstration", "Upload the recorder archive (.zip), or paste the demonstration JSON"),
        (
            {"recording": SimpleUploadedFile("recording.mp4", b"\x00\x01", "video/mp4")},
            "recording",
            "Upload the recorder's .json export.",
        ),
    ],
)
def test_a_bad_demonstration_is_shown_next_to_its_field_and_nothing_is_submitted(
    farmer_client, creator, farmer, payload, field, message
):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)

    response = farmer_client.post(reverse("farmers:claim", args=[claim.pk]), payload)

    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert f'id="id_{field}_error"' in text(response)
    assert not Submission.objects.filter(claim=claim).exists()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.OPEN


def test_a_scored_and_settled_submission_stops_polling_and_shows_score_breakdown_and_payout(
    farmer_client, creator, farmer, django_capture_on_commit_callbacks
):
    factory = funded_factory(creator, reward="0.2")
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        farmer_client.post(reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(demonstration())})
    submission = Submission.objects.get(claim=claim)
    assert submission.is_final  # scored and settled by the eager tasks after commit

    response = farmer_client.get(reverse("farmers:submission_status", args=[submission.pk]))

    page = text(response)
    assert "hx-trigger" not in page
    # A percentage, like the threshold beside it (0.9 -> "90%"), never "0.9000" beside "50%".
    assert f"<strong data-score>{score_percent(submission.quality_score)}</strong>" in page
    assert "pays from 50%" in page
    assert "Score breakdown" in page
    for reason in submission.score_reasons[:2]:
        assert reason in page
    money = factory.token.money
    assert str(money(submission.gross_payout)) in page
    assert str(money(submission.platform_fee)) in page
    assert str(money(submission.farmer_reward)) in page
    assert_audit_clean()


def test_an_expired_claim_says_so_and_offers_no_form(farmer_client, creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    Claim.objects.filter(pk=claim.pk).update(expires_at=claim.created_at)

    response = farmer_client.get(reverse("farmers:claim", args=[claim.pk]))

    assert "This claim has expired" in text(response)
    assert 'name="demonstration"' not in text(response)


def test_my_work_lists_the_farmers_claims_and_submissions(farmer_client, creator, farmer):
    settled = settle(funded_factory(creator, title="Done"), farmer, "0.9")
    claim = claim_create(factory=funded_factory(creator, title="Pending"), farmer=farmer)
    claim_create(factory=funded_factory(creator, title="Someone else's"), farmer=FarmerFactory())

    page = text(farmer_client.get(reverse("farmers:work")))

    assert reverse("farmers:submission", args=[settled.pk]) in page
    assert reverse("farmers:claim", args=[claim.pk]) in page
    assert "Someone else's" not in page


# ---- Earnings ----------------------------------------------------------------------------------


def test_earnings_show_balances_with_decimals_history_and_reputation(farmer_client, creator, farmer):
    first = settle(funded_factory(creator, reward="0.2"), farmer, "0.9")
    settle(funded_factory(creator, token="SOL", reward="0.5", deposit="1"), farmer, "0.5")
    settle(funded_factory(creator, reward="0.2"), farmer, "0.1")
    reputation_recompute(farmer_id=farmer.pk)

    response = farmer_client.get(reverse("farmers:earnings"))

    page = text(response)
    assert "0.162 USDC" in page  # 0.2 x 0.9 = 0.18 gross, 10% fee -> 0.162 net
    assert "0.018 USDC" in page
    assert "0.18 USDC" in page
    assert "0.225 SOL" in page  # 0.5 x 0.5 = 0.25 gross -> 0.225 net
    assert "below threshold" in page
    balances = {row["token"].symbol: row for row in response.context["balances"]}
    assert balances["USDC"]["available"] == 162_000
    assert balances["SOL"]["available"] == 225_000_000
    history = list(response.context["history"].object_list)
    assert len(history) == 3
    assert history[-1] == first  # newest first
    profile = FarmerProfile.objects.get(user=farmer)
    assert f"Reputation: {profile.reputation} / 100" in page
    assert "What would raise it" in page
    # All three for one creator: their work counts for one share only, and the page says so.
    assert profile.breakdown["limited_creators"] == 1
    assert "Work for more creators" in page


def test_a_withdrawal_request_moves_the_amount_to_pending_and_is_listed(farmer_client, creator, farmer):
    settle(funded_factory(creator, reward="0.2"), farmer, "0.9")

    response = farmer_client.post(
        reverse("farmers:withdrawal_create"),
        {"token": "USDC", "amount": "0.1", "address": withdrawal_wallet(farmer)},
        follow=True,
    )

    withdrawal = Withdrawal.objects.get(user=farmer)
    assert (withdrawal.amount, withdrawal.status) == (100_000, Withdrawal.Status.PENDING)
    balances = {row["token"].symbol: row for row in response.context["balances"]}
    assert (balances["USDC"]["available"], balances["USDC"]["pending_withdrawal"]) == (62_000, 100_000)
    page = text(response)
    assert "Withdrawal of 0.1 USDC requested" in page
    assert "Pending" in page
    assert_audit_clean()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"token": "USDC", "amount": "5", "address": SOLANA_ADDRESS}, "amount", "available; you asked for 5 USDC."),
        ({"token": "USDC", "amount": "0", "address": SOLANA_ADDRESS}, "amount", "greater than zero"),
        ({"token": "USDC", "amount": "-0.1", "address": SOLANA_ADDRESS}, "amount", "cannot be negative"),
        ({"token": "USDC", "amount": "0.0000001", "address": SOLANA_ADDRESS}, "amount", "At most 6 decimal places"),
        ({"token": "USDC", "amount": "abc", "address": SOLANA_ADDRESS}, "amount", "is not a number"),
        ({"token": "USDC", "amount": "0.1", "address": "0x" + "ab" * 20}, "address", "needs a Solana address"),
        ({"token": "USDC", "amount": "0.1", "address": "0OIl" * 10}, "address", "needs a Solana address"),
        ({"token": "ETH", "amount": "0.1", "address": SOLANA_ADDRESS}, "address", "needs an EVM address"),
    ],
)
def test_a_bad_withdrawal_shows_a_clear_error_next_to_the_field_and_moves_nothing(
    farmer_client, creator, farmer, data, field, message
):
    settle(funded_factory(creator, reward="0.2"), farmer, "0.9")
    if data["address"] == SOLANA_ADDRESS:  # withdrawals go only to a linked wallet: link one there
        data = {**data, "address": withdrawal_wallet(farmer)}
    before = dict(Account.objects.filter(holder=f"user:{farmer.pk}").values_list("pk", "balance"))

    response = farmer_client.post(reverse("farmers:withdrawal_create"), data)

    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field]), response.context["form"].errors
    assert f'id="id_{field}_error"' in text(response)
    assert not Withdrawal.objects.exists()
    assert dict(Account.objects.filter(holder=f"user:{farmer.pk}").values_list("pk", "balance")) == before
    assert_audit_clean()


# ---- Who may see what ----------------------------------------------------------------------------

FARMER_PAGES = ["farmers:browse", "farmers:work", "farmers:earnings"]


@pytest.mark.parametrize("name", FARMER_PAGES)
def test_farmer_pages_send_visitors_to_the_login_page(client, name):
    response = client.get(reverse(name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name", FARMER_PAGES)
def test_creators_get_403_on_farmer_pages(client, creator, name):
    client.force_login(creator)

    assert client.get(reverse(name)).status_code == 403


def test_creators_cannot_claim_from_the_page(client, creator):
    factory = funded_factory(CreatorFactory())
    client.force_login(creator)

    assert client.post(reverse("farmers:claim_start", args=[factory.pk])).status_code == 403
    assert not Claim.objects.exists()


def test_another_farmers_claim_and_submission_are_not_found(client, creator, farmer):
    other = FarmerFactory()
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=other)
    submission = submit(funded_factory(creator), other)
    client.force_login(farmer)

    assert client.get(reverse("farmers:claim", args=[claim.pk])).status_code == 404
    assert (
        client.post(
            reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(demonstration())}
        ).status_code
        == 404
    )
    assert client.get(reverse("farmers:submission", args=[submission.pk])).status_code == 404
    assert client.get(reverse("farmers:submission_status", args=[submission.pk])).status_code == 404
    assert not Submission.objects.filter(claim=claim).exists()


def test_earnings_show_only_the_farmers_own_work_and_withdrawals(client, creator, farmer):
    other = FarmerFactory()
    settle(funded_factory(creator, title="Theirs"), other, "0.9")
    client.force_login(farmer)

    response = client.get(reverse("farmers:earnings"))

    assert "Theirs" not in text(response)
    assert list(response.context["history"].object_list) == []
    assert all(row["available"] == 0 for row in response.context["balances"])


# ---- Success checks: before claiming and after grading (issue 16, point 1) ---------------------

SHEET_INSTRUCTIONS = 'Create a sheet named "Q2 Sales" and enter the total 48,250.75 in cell B7.'


def sheet_demo(typed_name: str) -> dict:
    demo = demonstration(steps=4, minutes=1)
    demo["steps"] = [
        {"t": 2.0, "action": "navigate", "url": "https://sheets.example.com/new"},
        {"t": 9.0, "action": "type", "target": "Sheet name", "text": typed_name},
        {"t": 20.0, "action": "type", "target": "Cell B7", "text": "48250.75"},
        {"t": 31.0, "action": "key", "key": "Enter"},
    ]
    demo["final_state"] = f'Sheet "{typed_name}" saved; B7: 48,250.75'
    return demo


def test_the_factory_preview_lists_the_checks_the_agent_will_verify(farmer_client, creator):
    factory = funded_factory(creator, title="Quarterly sheet", instructions=SHEET_INSTRUCTIONS)

    page = text(farmer_client.get(reverse("farmers:factory", args=[factory.pk])))

    assert "What the quality agent checks" in page
    assert "“Q2 Sales” is typed or entered." in page
    assert "“48,250.75” is typed or entered." in page
    assert "Required" in page


def test_the_factory_preview_lists_the_creators_own_checks(farmer_client, creator):
    factory = funded_factory(creator, title="Visit", instructions="Open the status page and check it is green.")
    factory.success_checks = [{"kind": "visited", "value": "status.example.com", "required": True}]
    factory.save(update_fields=["success_checks"])

    page = text(farmer_client.get(reverse("farmers:factory", args=[factory.pk])))

    assert "The recording visits status.example.com." in page


def test_the_claim_page_shows_the_checks_frozen_on_the_claim(farmer_client, creator, farmer):
    factory = funded_factory(creator, title="Quarterly sheet", instructions=SHEET_INSTRUCTIONS)
    claim = claim_create(factory=factory, farmer=farmer)
    factory.instructions = 'Create a sheet named "Q3 Costs".'  # an edit applies to new claims only
    factory.save(update_fields=["instructions"])

    page = text(farmer_client.get(reverse("farmers:claim", args=[claim.pk])))

    assert "“Q2 Sales” is typed or entered." in page
    assert "Q3 Costs" not in page.split("What the quality agent checks")[1]


def test_the_submission_page_says_which_check_failed_and_what_was_typed(
    farmer_client, creator, farmer, settings, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, title="Quarterly sheet", instructions=SHEET_INSTRUCTIONS, expected_minutes=2)
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        farmer_client.post(
            reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(sheet_demo("Q2 Sals"))}
        )
    submission = Submission.objects.get(claim=claim)
    assert submission.status == Submission.Status.REJECTED

    page = text(farmer_client.get(reverse("farmers:submission", args=[submission.pk])))

    assert "Success checks" in page
    failed = page.index("Not met:</strong> “Q2 Sales” is typed or entered.")
    assert "“q2 sals” was typed instead." in page[failed:]  # as the agent read it: case folded
    assert "Met:</strong> “48,250.75” is typed or entered." in page


def test_the_submission_page_shows_every_check_met_for_honest_work(
    farmer_client, creator, farmer, settings, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, title="Quarterly sheet", instructions=SHEET_INSTRUCTIONS, expected_minutes=2)
    claim = claim_create(factory=factory, farmer=farmer)
    with django_capture_on_commit_callbacks(execute=True):
        farmer_client.post(
            reverse("farmers:claim", args=[claim.pk]), {"demonstration": json.dumps(sheet_demo("Q2 Sales"))}
        )
    submission = Submission.objects.get(claim=claim)
    assert submission.status == Submission.Status.SETTLED

    page = text(farmer_client.get(reverse("farmers:submission", args=[submission.pk])))

    assert "Not met" not in page
    assert "Met:</strong> “Q2 Sales” is typed or entered." in page
