"""Factories with several tasks, claimed task by task: each task's own instructions, checks,
reward and caps are frozen on the claim and paid from the factory's pool; the farmer chooses
one; bad input is a 400 that changes nothing."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from core.exceptions import Conflict
from ledger.models import Account, Transaction
from pools.models import Claim, FactoryTask
from pools.services.claims import claim_create
from pools.services.factory_tasks import factory_task_add, factory_task_remove
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_review
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_tasks(creator):
    factory = funded_factory(creator, reward="0.2", deposit="10")
    first = factory_task_add(
        factory=factory,
        actor=creator,
        title="Budget",
        instructions="Create a spreadsheet named Budget.",
        reward="0.3",
        success_checks=[{"kind": "typed", "value": "Budget", "required": True}],
    )
    second = factory_task_add(
        factory=factory,
        actor=creator,
        title="Invoice",
        instructions="Write an invoice for ACME.",
        reward="0.5",
        expected_minutes=20,
        per_farmer_limit=1,
    )
    return factory, first, second


def test_a_task_claim_freezes_the_tasks_terms_and_reserves_its_reward(two_tasks, farmer):
    factory, _first, second = two_tasks
    reserved_before = Account.objects.get(pk=factory.reserved_account_id).balance

    claim = claim_create(factory=factory, farmer=farmer, task_id=second.pk)

    assert (claim.task_id, claim.reward) == (second.pk, 500_000)
    assert claim.terms["title"] == f"{factory.title}: Invoice"
    assert claim.terms["instructions"] == "Write an invoice for ACME."
    assert claim.terms["expected_minutes"] == 20 and claim.terms["reward"] == "500000"
    assert Account.objects.get(pk=factory.reserved_account_id).balance == reserved_before + 500_000
    assert_audit_clean()


def test_the_tasks_reward_is_what_settlement_pays(two_tasks, farmer):
    factory, first, _ = two_tasks
    claim = claim_create(factory=factory, farmer=farmer, task_id=first.pk)
    assert claim.terms["checks"][0]["value"] == "Budget"
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="1")
    submission = submission_settle(submission_id=submission.pk)
    assert submission.gross_payout == 300_000  # the task's 0.3, not the factory's 0.2
    assert_audit_clean()


def test_a_factory_with_tasks_needs_one_chosen_and_its_own(two_tasks, farmer):
    factory, _, _ = two_tasks
    other = factory_task_add(
        factory=funded_factory(factory.creator), actor=factory.creator, title="X", instructions="Y", reward="0.1"
    )
    for task_id in (None, other.pk, "abc", 10**9):
        with pytest.raises(ValidationError) as error:
            claim_create(factory=factory, farmer=farmer, task_id=task_id)
        assert "task" in error.value.message_dict
    assert not Claim.objects.filter(farmer=farmer).exists()
    with pytest.raises(ValidationError):  # a factory without tasks takes none
        claim_create(factory=funded_factory(CreatorFactory()), farmer=farmer, task_id=other.pk)


def test_each_task_has_its_own_cap(two_tasks, farmer):
    factory, first, second = two_tasks
    claim = claim_create(factory=factory, farmer=farmer, task_id=second.pk)
    submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    transactions = Transaction.objects.count()

    with pytest.raises(Conflict, match=r"Invoice.*at most 1"):
        claim_create(factory=factory, farmer=farmer, task_id=second.pk)
    assert Transaction.objects.count() == transactions
    assert claim_create(factory=factory, farmer=farmer, task_id=first.pk).task_id == first.pk


def test_task_input_errors_come_together_and_add_nothing(creator):
    factory = funded_factory(creator)
    with pytest.raises(ValidationError) as error:
        factory_task_add(
            factory=factory, actor=creator, title=" ", instructions="", reward="0.0000001", per_farmer_daily_limit=0
        )
    assert {"title", "instructions", "reward", "per_farmer_daily_limit"} <= set(error.value.message_dict)
    assert not FactoryTask.objects.exists()


def test_a_claimed_task_cannot_be_removed(two_tasks, farmer):
    factory, first, second = two_tasks
    claim_create(factory=factory, farmer=farmer, task_id=first.pk)
    with pytest.raises(Conflict):
        factory_task_remove(task=first, actor=factory.creator)
    factory_task_remove(task=second, actor=factory.creator)
    assert list(FactoryTask.objects.values_list("pk", flat=True)) == [first.pk]


def test_api_lists_adds_and_claims_tasks(two_tasks, farmer, as_user):
    factory, first, _ = two_tasks
    listed = as_user(farmer).get(f"/api/v1/factories/{factory.pk}/tasks/")
    assert listed.status_code == 200 and [task["title"] for task in listed.json()] == ["Budget", "Invoice"]
    assert listed.json()[0]["reward"] == "0.300000"
    added = as_user(factory.creator).post(
        f"/api/v1/factories/{factory.pk}/tasks/",
        {"title": "Chart", "instructions": "Draw a chart.", "reward": "0.4"},
        format="json",
    )
    assert added.status_code == 201 and added.json()["position"] == 3
    bad = as_user(factory.creator).post(
        f"/api/v1/factories/{factory.pk}/tasks/", {"title": "T", "instructions": "I", "reward": 1}, format="json"
    )
    assert bad.status_code == 400
    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 400
    claimed = as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/", {"task": first.pk}, format="json")
    assert claimed.status_code == 201 and claimed.json()["task"] == first.pk
    assert (
        as_user(factory.creator).delete(f"/api/v1/factories/{factory.pk}/tasks/{added.json()['id']}/").status_code
        == 204
    )


def test_pages_add_tasks_and_farmers_claim_one(two_tasks, farmer):
    factory, _first, second = two_tasks
    creator_page = Client()
    creator_page.force_login(factory.creator)
    response = creator_page.post(
        f"/creator/factories/{factory.pk}/tasks/", {"title": "Chart", "instructions": "Draw it.", "reward": "0.4"}
    )
    assert response.status_code == 302
    assert "Chart" in creator_page.get(f"/creator/factories/{factory.pk}/tasks/").content.decode()
    bad = creator_page.post(
        f"/creator/factories/{factory.pk}/tasks/", {"title": "T", "instructions": "I", "reward": "x"}
    )
    assert bad.status_code == 400 and FactoryTask.objects.count() == 3

    farmer_page = Client()
    farmer_page.force_login(farmer)
    preview = farmer_page.get(f"/farm/factories/{factory.pk}/").content.decode()
    assert 'id="factory-tasks"' in preview and "Write an invoice for ACME." in preview
    assert "0.45" in preview  # the invoice's 0.5 after the 10% fee
    response = farmer_page.post(f"/farm/factories/{factory.pk}/claim/", {"task": second.pk})
    assert response.status_code == 302
    assert Claim.objects.get(farmer=farmer).task_id == second.pk
    unchosen = FarmerFactory()
    farmer_page.force_login(unchosen)
    response = farmer_page.post(f"/farm/factories/{factory.pk}/claim/", follow=True)
    assert "choose the one you claim" in response.content.decode()
    assert not Claim.objects.filter(farmer=unchosen).exists()


def test_a_dry_run_on_a_factory_with_tasks_tries_the_chosen_task(two_tasks, farmer, as_user):
    factory, first, _ = two_tasks
    url = f"/api/v1/factories/{factory.pk}/dry-run/"
    assert as_user(farmer).post(url, {"demonstration": demonstration()}, format="json").status_code == 400
    answer = as_user(farmer).post(url, {"demonstration": demonstration(), "task": first.pk}, format="json")
    assert answer.status_code == 200
    assert [check["check"] for check in answer.json()["checks"]] == ["typed: Budget"]
