"""Per-factory evidence policy: a creator can require a screen recording (API field, factory
form). It is frozen on each claim's terms; a demonstration without one is refused at intake,
on the API and the claim page, with a message that says so, and nothing changes."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from pools.models import Claim, Factory, Submission
from pools.services.claims import claim_create
from pools.services.factories import factory_update
from pools.services.submissions import submission_create
from tests.factories import demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


def test_the_creator_requires_a_recording_through_the_api(as_user, creator):
    response = as_user(creator).post(
        "/api/v1/factories/",
        {
            "title": "Budget",
            "instructions": "Make a budget sheet.",
            "token": "USDC",
            "reward": "0.1",
            "requires_recording": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["requires_recording"] is True
    assert Factory.objects.get(pk=response.json()["id"]).requires_recording is True


def test_a_factory_does_not_require_a_recording_by_default(as_user, creator):
    response = as_user(creator).post(
        "/api/v1/factories/",
        {"title": "Budget", "instructions": "Make a budget sheet.", "token": "USDC", "reward": "0.1"},
        format="json",
    )

    assert response.json()["requires_recording"] is False


def test_the_policy_is_frozen_on_the_claim(creator, farmer):
    factory = funded_factory(creator, requires_recording=True)
    claim = claim_create(factory=factory, farmer=farmer)
    factory_update(factory=factory, actor=creator, requires_recording=False)

    assert claim.terms["requires_recording"] is True
    with pytest.raises(Exception) as caught:
        submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    assert "requires a screen recording" in str(caught.value)


def test_a_json_demonstration_is_refused_through_the_api_and_nothing_changes(as_user, creator, farmer):
    claim = claim_create(factory=funded_factory(creator, requires_recording=True), farmer=farmer)

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert response.status_code == 400
    assert "requires a screen recording" in response.json()["demonstration"][0]
    assert "recorder's archive" in response.json()["demonstration"][0]
    assert not Submission.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN


def test_a_factory_without_the_policy_takes_json(as_user, creator, farmer):
    claim = claim_create(factory=funded_factory(creator), farmer=farmer)

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert response.status_code == 201


def test_the_claim_page_refuses_json_with_the_same_message(creator, farmer):
    claim = claim_create(factory=funded_factory(creator, requires_recording=True), farmer=farmer)
    client = Client()
    client.force_login(farmer)

    response = client.post(
        reverse("farmers:claim", kwargs={"claim_id": claim.pk}), {"demonstration": json.dumps(demonstration())}
    )

    assert response.status_code == 400
    assert "requires a screen recording" in response.content.decode()
    assert not Submission.objects.exists()


def test_the_factory_form_sets_the_policy(creator):
    client = Client()
    client.force_login(creator)
    factory = funded_factory(creator)

    response = client.post(
        reverse("pools:factory-edit", args=[factory.pk]),
        {
            "title": factory.title,
            "instructions": factory.instructions,
            "expected_minutes": "5",
            "claim_timeout_minutes": "60",
            "min_reputation": "0",
            "requires_recording": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert Factory.objects.get(pk=factory.pk).requires_recording is True
    page = client.get(reverse("pools:factory-edit", args=[factory.pk])).content.decode()
    assert 'name="requires_recording"' in page and "checked" in page
