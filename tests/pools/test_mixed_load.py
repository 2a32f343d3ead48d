"""Issue 20 row 3: web requests (claim, rate change, close, submit) and settlement batches at
the same moment, on the same factories, never answer 500 and leave a clean ledger.

Real threads, each with its own PostgreSQL connection; the pages and the API through Django's
test client (the middleware and handlers of production), the settlement batches through the
service the worker runs."""

from __future__ import annotations

import random

import pytest
from django.test import Client
from django.urls import reverse

from pools.models import Claim, Factory, Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.concurrency import all_at_once
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def _waiting_submissions(factories, count: int) -> None:
    """`count` submissions per factory, waiting for the settlement worker."""
    for factory in factories:
        for index in range(count):
            farmer = FarmerFactory()
            claim = claim_create(factory=factory, farmer=farmer)
            # Distinct steps: a copy would be held for review and never settle.
            body = demonstration()
            body["steps"][0] = {**body["steps"][0], "text": f"{factory.pk}-{index}"}
            submission_create(claim_id=claim.pk, farmer=farmer, demonstration=body)


def test_claims_rate_changes_closes_and_settlement_batches_at_once_never_answer_500(settings):
    settings.FORGE_GRADER = "rules"
    rng = random.Random(20)
    creators = [CreatorFactory() for _ in range(3)]
    factories = [funded_factory(creator, reward="0.2", deposit="20") for creator in creators]
    _waiting_submissions(factories, 6)
    # Open claims to submit during the storm.
    submitters = []
    for factory in factories:
        for _ in range(2):
            farmer = FarmerFactory()
            submitters.append((farmer, claim_create(factory=factory, farmer=farmer)))

    calls = []
    for _ in range(12):  # farmers claim through the page and the API
        factory, farmer = rng.choice(factories), FarmerFactory()
        if rng.random() < 0.5:
            calls.append(lambda f=factory, u=farmer: _page_client(u).post(reverse("farmers:claim_start", args=[f.pk])))
        else:
            calls.append(lambda f=factory, u=farmer: client_for(u).post(f"/api/v1/factories/{f.pk}/claims/"))
    for index in range(6):  # creators change the rate, through the page and the API
        factory = factories[index % 3]
        reward = f"0.{21 + index}"
        if index % 2:
            calls.append(
                lambda f=factory, r=reward: _page_client(f.creator).post(
                    reverse("pools:factory-rate", args=[f.pk]), {"reward": r}
                )
            )
        else:
            calls.append(
                lambda f=factory, r=reward: client_for(f.creator).post(
                    f"/api/v1/factories/{f.pk}/rate/", {"reward": r}, format="json"
                )
            )
    # One factory closes (page), one closes (API), mid-storm.
    calls.append(lambda f=factories[0]: _page_client(f.creator).post(reverse("pools:factory-close", args=[f.pk])))
    calls.append(lambda f=factories[1]: client_for(f.creator).post(f"/api/v1/factories/{f.pk}/close/"))
    for farmer, claim in submitters:  # farmers submit
        calls.append(
            lambda u=farmer, c=claim: client_for(u).post(
                f"/api/v1/claims/{c.pk}/submission/", {"demonstration": demonstration()}, format="json"
            )
        )
    for _ in range(7):  # the settlement worker, several batches at once
        calls.append(lambda: process_batch(limit=4))
    rng.shuffle(calls)

    results = all_at_once(calls)

    errors = [result for result in results if isinstance(result, Exception)]
    assert not errors, errors
    statuses = sorted(result.status_code for result in results if not isinstance(result, int))
    assert all(code < 500 for code in statuses), statuses
    assert not [code for code in statuses if code not in (200, 201, 302, 409)], statuses
    # Everything left waiting settles afterwards, and the books balance.
    while process_batch(limit=50):
        pass
    assert not Submission.objects.filter(status__in=["submitted", "scoring"], needs_review=False).exists()
    assert Factory.objects.filter(status=Factory.Status.CLOSED).count() == 2
    assert Claim.objects.filter(status=Claim.Status.OPEN).exists()
    assert_audit_clean()
