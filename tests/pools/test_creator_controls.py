"""A creator's controls over who works for them: a per-day cap per farmer, allow and block
lists, a qualification task. Each refusal says why and changes nothing; the browse page, the
preview and the API list agree with claim_create."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from core.exceptions import Conflict, Forbidden, NotFound
from ledger.models import Transaction
from pools.models import Claim, FarmerListEntry
from pools.services.claims import claim_create
from pools.services.controls import farmer_list_remove, farmer_list_set
from pools.services.factories import factory_create, factory_update
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


def _submit(claim, farmer, *, score="0.9"):
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)
    return submission_settle(submission_id=submission.pk)


def _page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---- Per-day caps ---------------------------------------------------------------------------


def test_daily_cap_refuses_the_next_claim_the_same_day_and_changes_nothing(creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="10", per_farmer_daily_limit=2)
    for _ in range(2):
        _submit(claim_create(factory=factory, farmer=farmer), farmer)
    transactions = Transaction.objects.count()

    with pytest.raises(Conflict, match="at most 2 claim\\(s\\) per farmer a day"):
        claim_create(factory=factory, farmer=farmer)

    assert Claim.objects.filter(factory=factory, farmer=farmer).count() == 2
    assert Transaction.objects.count() == transactions
    # Another farmer has a cap of their own.
    assert claim_create(factory=factory, farmer=FarmerFactory()).pk
    assert_audit_clean()


def test_daily_cap_counts_only_todays_claims_and_not_expired_ones(creator, farmer):
    factory = funded_factory(creator, reward="0.2", deposit="10", per_farmer_daily_limit=1)
    yesterday = claim_create(factory=factory, farmer=farmer)
    _submit(yesterday, farmer)
    Claim.objects.filter(pk=yesterday.pk).update(created_at=timezone.now() - timedelta(days=1, minutes=1))
    expired = claim_create(factory=factory, farmer=farmer)  # yesterday's claim does not count
    Claim.objects.filter(pk=expired.pk).update(status=Claim.Status.EXPIRED)

    assert claim_create(factory=factory, farmer=farmer).pk  # nor does an expired one
    with pytest.raises(Conflict):
        Claim.objects.filter(factory=factory, farmer=farmer, status=Claim.Status.OPEN).update(
            status=Claim.Status.SUBMITTED
        )
        claim_create(factory=factory, farmer=farmer)


def test_daily_cap_out_of_bounds_is_a_field_error(creator):
    with pytest.raises(ValidationError) as error:
        factory_create(
            creator=creator, title="T", instructions="Do it.", token="USDC", reward="0.1", per_farmer_daily_limit=0
        )
    assert "per_farmer_daily_limit" in error.value.message_dict


def test_daily_cap_through_the_api_is_a_409_with_the_reason(creator, farmer, as_user):
    factory = funded_factory(creator, reward="0.2", deposit="10", per_farmer_daily_limit=1)
    _submit(claim_create(factory=factory, farmer=farmer), farmer)

    response = as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/")

    assert response.status_code == 409
    assert "a day" in response.json()["detail"]


# ---- Allow and block lists ------------------------------------------------------------------


def test_blocked_farmer_neither_sees_nor_claims_any_of_the_creators_factories(creator, farmer, as_user):
    factory = funded_factory(creator, title="Blocked creator's task")
    other = funded_factory(CreatorFactory(), title="Someone else's task")
    farmer_list_set(creator=creator, username=farmer.username, kind="block")

    listed = {row["id"] for row in as_user(farmer).get("/api/v1/factories/").json()["results"]}
    assert factory.pk not in listed and other.pk in listed
    assert as_user(farmer).get(f"/api/v1/factories/{factory.pk}/").status_code == 404
    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 404
    assert not Claim.objects.filter(farmer=farmer).exists()
    page = _page(farmer)
    browse = page.get("/farm/").content.decode()
    assert "Blocked creator" not in browse and "Someone else" in browse
    assert page.get(f"/farm/factories/{factory.pk}/").status_code == 404

    # Unblocked: back to normal.
    farmer_list_remove(creator=creator, entry_id=FarmerListEntry.objects.get(farmer=farmer).pk)
    assert claim_create(factory=factory, farmer=farmer).pk


def test_blocking_leaves_an_open_claim_submittable(creator, farmer):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    farmer_list_set(creator=creator, username=farmer.username, kind="block")

    submission = _submit(claim, farmer)

    assert submission.status == "settled"
    assert_audit_clean()


def test_allow_list_factory_admits_listed_farmers_only(creator, farmer):
    factory = funded_factory(creator, allow_list_only=True)
    outsider = FarmerFactory()
    farmer_list_set(creator=creator, username=farmer.username, kind="allow")

    assert claim_create(factory=factory, farmer=farmer).pk
    with pytest.raises(NotFound):
        claim_create(factory=factory, farmer=outsider)
    # An open factory of the same creator stays open to everyone.
    assert claim_create(factory=funded_factory(creator), farmer=outsider).pk


def test_allow_list_page_hides_the_factory_from_an_unlisted_farmer(creator, farmer):
    funded_factory(creator, allow_list_only=True, title="Invite-only sorting")

    assert "Invite-only sorting" not in _page(farmer).get("/farm/").content.decode()
    farmer_list_set(creator=creator, username=farmer.username, kind="allow")
    assert "Invite-only sorting" in _page(farmer).get("/farm/").content.decode()


def test_moving_a_farmer_between_lists_keeps_one_entry(creator, farmer):
    farmer_list_set(creator=creator, username=farmer.username, kind="allow")
    farmer_list_set(creator=creator, username=farmer.username.upper(), kind="block", note="spam")

    entry = FarmerListEntry.objects.get(creator=creator)
    assert (entry.farmer_id, entry.kind, entry.note) == (farmer.pk, "block", "spam")


@pytest.mark.parametrize(
    ("username", "kind", "field"),
    [
        ("nobody-here", "block", "username"),
        ("", "block", "username"),
        ("FARMER", "ban", "kind"),
        ("a\x00b", "block", "username"),
    ],
)
def test_bad_list_input_is_a_field_error_that_changes_nothing(creator, farmer, username, kind, field):
    username = farmer.username if username == "FARMER" else username
    with pytest.raises(ValidationError) as error:
        farmer_list_set(creator=creator, username=username, kind=kind)
    assert field in error.value.message_dict
    assert not FarmerListEntry.objects.exists()


def test_a_creator_cannot_list_another_creator(creator):
    with pytest.raises(ValidationError):
        farmer_list_set(creator=creator, username=CreatorFactory().username, kind="block")


def test_only_creators_keep_lists_and_only_their_own_entries(creator, farmer):
    with pytest.raises(Forbidden):
        farmer_list_set(creator=farmer, username=FarmerFactory().username, kind="block")
    entry = farmer_list_set(creator=creator, username=farmer.username, kind="block")
    with pytest.raises(NotFound):
        farmer_list_remove(creator=CreatorFactory(), entry_id=entry.pk)
    assert FarmerListEntry.objects.filter(pk=entry.pk).exists()


def test_list_api_adds_lists_and_removes(creator, farmer, as_user):
    client = as_user(creator)
    created = client.post("/api/v1/farmer-lists/", {"username": farmer.username, "kind": "block"}, format="json")
    assert created.status_code == 201, created.json()
    assert client.get("/api/v1/farmer-lists/").json()[0]["username"] == farmer.username
    bad = client.post("/api/v1/farmer-lists/", {"username": "ghost", "kind": "block"}, format="json")
    assert bad.status_code == 400 and "username" in bad.json()
    assert client.delete(f"/api/v1/farmer-lists/{created.json()['id']}/").status_code == 204
    assert not FarmerListEntry.objects.exists()


def test_list_page_adds_shows_and_removes(creator, farmer):
    page = _page(creator)
    response = page.post("/creator/farmers/", {"username": farmer.username, "kind": "block", "note": "copies"})
    assert response.status_code == 302
    assert farmer.username in page.get("/creator/farmers/").content.decode()
    bad = page.post("/creator/farmers/", {"username": "ghost", "kind": "block"})
    assert bad.status_code == 400 and "No farmer named" in bad.content.decode()
    entry = FarmerListEntry.objects.get()
    assert page.post(f"/creator/farmers/{entry.pk}/remove/").status_code == 302
    assert not FarmerListEntry.objects.exists()


# ---- Qualification task ---------------------------------------------------------------------


def test_qualification_task_gates_the_factory_until_an_accepted_demonstration(creator, farmer):
    qualifier = funded_factory(creator, reward="0.1", deposit="5")
    main = funded_factory(creator, reward="0.5", deposit="10", qualification_factory=qualifier)

    with pytest.raises(Forbidden, match="qualification task"):
        claim_create(factory=main, farmer=farmer)
    _submit(claim_create(factory=qualifier, farmer=farmer), farmer, score="0.2")  # refused: not enough
    with pytest.raises(Forbidden):
        claim_create(factory=main, farmer=farmer)
    _submit(claim_create(factory=qualifier, farmer=farmer), farmer, score="0.9")

    assert claim_create(factory=main, farmer=farmer).pk
    assert_audit_clean()


def test_browse_and_preview_show_the_qualification_needed(creator, farmer):
    qualifier = funded_factory(creator, reward="0.1", deposit="5")
    main = funded_factory(creator, reward="0.5", deposit="10", qualification_factory=qualifier)
    page = _page(farmer)

    browse = page.get("/farm/").content.decode()
    assert "Qualification: pass" in browse
    assert "qualification-needed" in page.get(f"/farm/factories/{main.pk}/").content.decode()
    unlocked = page.get("/farm/?access=unlocked").content.decode()
    assert f"/farm/factories/{main.pk}/" not in unlocked
    assert f"/farm/factories/{qualifier.pk}/" in unlocked


def test_qualification_must_be_another_factory_of_the_creator_without_a_loop(creator):
    first = funded_factory(creator)
    second = funded_factory(creator, qualification_factory=first)
    strangers = funded_factory(CreatorFactory())

    for bad in (strangers.pk, first.pk, "x", 10**12):
        with pytest.raises(ValidationError) as error:
            factory_update(factory=first, actor=creator, qualification_factory=bad if bad != first.pk else first.pk)
        assert "qualification_factory" in error.value.message_dict
    with pytest.raises(ValidationError, match="loop"):
        factory_update(factory=first, actor=creator, qualification_factory=second.pk)
    first.refresh_from_db()
    assert first.qualification_factory_id is None
    factory_update(factory=second, actor=creator, qualification_factory=None)
    second.refresh_from_db()
    assert second.qualification_factory_id is None


def test_edit_page_sets_the_controls(creator):
    qualifier = funded_factory(creator)
    factory = funded_factory(creator)
    data = {
        "title": factory.title,
        "instructions": factory.instructions,
        "expected_minutes": 10,
        "claim_timeout_minutes": 60,
        "min_reputation": "0",
        "per_farmer_daily_limit": "3",
        "allow_list_only": "on",
        "qualification_factory": str(qualifier.pk),
    }
    response = _page(creator).post(f"/creator/factories/{factory.pk}/edit/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    factory.refresh_from_db()
    assert (factory.per_farmer_daily_limit, factory.allow_list_only, factory.qualification_factory_id) == (
        3,
        True,
        qualifier.pk,
    )


def test_create_api_takes_the_controls_and_refuses_bad_ones(creator, as_user):
    qualifier = funded_factory(creator)
    body = {"title": "T", "instructions": "Do it.", "token": "USDC", "reward": "0.1"}
    good = as_user(creator).post(
        "/api/v1/factories/",
        {**body, "per_farmer_daily_limit": 5, "allow_list_only": True, "qualification_factory": qualifier.pk},
        format="json",
    )
    assert good.status_code == 201, good.json()
    assert (good.json()["per_farmer_daily_limit"], good.json()["allow_list_only"]) == (5, True)
    assert good.json()["qualification_factory"] == qualifier.pk
    other = funded_factory(CreatorFactory())
    bad = as_user(creator).post("/api/v1/factories/", {**body, "qualification_factory": other.pk}, format="json")
    assert bad.status_code == 400 and "qualification_factory" in bad.json()
