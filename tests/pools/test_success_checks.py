"""Success checks per factory (issue 16, point 1): the API and the factory form accept them,
validate them (a 400 / form error naming the bad field, nothing stored), store them in the
canonical form, and a claim freezes them; a required check that fails pays nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from pools.grading.checks import checks_propose, checks_to_json
from pools.models import Claim, Factory, Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

VALID = {
    "title": "Budget sheet",
    "instructions": "Create a spreadsheet named Budget and fill the sheet.",
    "token": "USDC",
    "reward": "0.2",
}
CHECKS = [{"kind": "typed", "value": "Budget 2026"}, {"kind": "app", "value": "spreadsheet", "required": False}]


def test_the_api_accepts_and_returns_success_checks(as_user, creator):
    response = as_user(creator).post("/api/v1/factories/", {**VALID, "success_checks": CHECKS}, format="json")

    assert response.status_code == 201, response.json()
    canonical = [
        {"kind": "typed", "required": True, "origin": "creator", "value": "Budget 2026"},
        {"kind": "app", "required": False, "origin": "creator", "value": "spreadsheet"},
    ]
    assert response.json()["success_checks"] == canonical
    assert Factory.objects.get(pk=response.json()["id"]).success_checks == canonical
    detail = as_user(creator).get(f"/api/v1/factories/{response.json()['id']}/")
    assert detail.json()["success_checks"] == canonical


def test_without_checks_the_api_returns_null(as_user, creator):
    response = as_user(creator).post("/api/v1/factories/", VALID, format="json")
    assert response.status_code == 201
    assert response.json()["success_checks"] is None


@pytest.mark.parametrize(
    "checks, field",
    [
        ([{"kind": "smells", "value": "x"}], "checks[0].kind"),
        ([{"kind": "typed", "value": "ok"}, {"kind": "typed"}], "checks[1].value"),
        ([{"kind": "milestones", "values": ["only one"]}], "checks[0].values"),
        ({"kind": "typed"}, "checks"),
        ([{"kind": "typed", "value": "x", "colour": "red"}], "checks[0].colour"),
    ],
)
def test_bad_checks_are_a_400_naming_the_field_and_store_nothing(as_user, creator, checks, field):
    response = as_user(creator).post("/api/v1/factories/", {**VALID, "success_checks": checks}, format="json")

    assert response.status_code == 400, response.json()
    assert "success_checks" in str(response.json())
    assert field in str(response.json())
    assert Factory.objects.count() == 0


def test_the_factory_form_edits_the_checks_and_proposes_them_first(creator):
    factory = funded_factory(creator, instructions='Name the spreadsheet "Budget 2026" and fill it.')
    client = Client()
    client.force_login(creator)
    url = reverse("pools:factory-edit", args=[factory.pk])

    page = client.get(url)
    assert page.status_code == 200
    proposed = checks_to_json(checks_propose(factory.title, factory.instructions))
    assert page.context["form"].initial["success_checks"] == proposed
    assert "Budget 2026" in page.content.decode()

    fields = {
        "title": factory.title,
        "instructions": factory.instructions,
        "description": "",
        "category": "",
        "tags": "",
        "expected_minutes": 10,
        "claim_timeout_minutes": factory.claim_timeout_minutes,
        "min_reputation": "0",
    }
    bad = client.post(url, {**fields, "success_checks": '[{"kind": "typed", "value": 7}]'})
    assert bad.status_code == 200
    assert "checks[0].value" in bad.content.decode()
    factory.refresh_from_db()
    assert factory.success_checks is None

    good = client.post(url, {**fields, "success_checks": '[{"kind": "typed", "value": "Budget 2026"}]'})
    assert good.status_code == 302
    factory.refresh_from_db()
    assert factory.success_checks == [{"kind": "typed", "required": True, "origin": "creator", "value": "Budget 2026"}]


def test_a_failed_required_check_pays_nothing_and_is_named(creator, settings):
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    Factory.objects.filter(pk=factory.pk).update(success_checks=[{"kind": "typed", "value": "Invoices Q3"}])
    factory.refresh_from_db()
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    assert Claim.objects.get(pk=claim.pk).terms["checks"][0]["value"] == "Invoices Q3"
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.status == Submission.Status.REJECTED
    assert submission.farmer_reward in (None, 0)
    assert any("Invoices Q3" in reason for reason in submission.score_reasons), submission.score_reasons
