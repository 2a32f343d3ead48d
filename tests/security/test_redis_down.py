"""Redis down (the cache and the broker both refuse connections): the throttles fail open,
nothing that committed answers an error, and the work waits durably for the sweeper.

Before: API register, token, claim and submit were 500s (the throttles read the cache), and
the claim page stored the submission and then answered 500 (the wake-up's `cache.add` ran
after commit, outside its `try`). The connection refusals here are real: the cache and the
publisher point at a port where nothing listens (no mock of our code)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from django.test import Client

from accounts.models import User
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import UNREACHABLE_BROKER_URL, _reset_connections, broker_unreachable
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def redis_down(settings):
    """The cache on a refused port; Celery publishing (not eager) to the same refused port."""
    import redis

    from forge.celery import app as celery_app

    with pytest.raises(redis.exceptions.ConnectionError):  # really nothing there
        redis.Redis.from_url(UNREACHABLE_BROKER_URL, socket_connect_timeout=1).ping()
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_BROKER_URL}
    }
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    try:
        with broker_unreachable():
            yield
    finally:
        celery_app.conf.task_always_eager = eager
        _reset_connections()


@pytest.fixture
def claim():
    return claim_create(factory=funded_factory(CreatorFactory(), reward="0.2", deposit="1"), farmer=FarmerFactory())


def _timed(call):
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def test_register_and_token_answer_as_usual(redis_down, api):
    response, elapsed = _timed(
        lambda: api.post(
            "/api/v1/auth/register/", {"username": "newfarmer", "password": PASSWORD, "role": "farmer"}, format="json"
        )
    )
    assert response.status_code == 201, response.content
    assert elapsed < 5
    assert User.objects.filter(username="newfarmer").exists()

    response = api.post("/api/v1/auth/token/", {"username": "newfarmer", "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["token"]


# Transactional: the wake-up runs on commit, which a test wrapped in one transaction never reaches.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_claim_and_submit_on_the_api_answer_201_and_the_work_waits(redis_down, claim, caplog):
    farmer = claim.farmer
    factory = funded_factory(claim.factory.creator, reward="0.2", deposit="1")
    api = client_for(farmer)

    response = api.post(f"/api/v1/factories/{factory.pk}/claims/", format="json")
    assert response.status_code == 201, response.content
    assert Claim.objects.filter(farmer=farmer).count() == 2

    with caplog.at_level(logging.WARNING):
        response, elapsed = _timed(
            lambda: api.post(
                f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
            )
        )

    assert response.status_code == 201, response.content
    assert elapsed < 10
    submission = Submission.objects.get(pk=response.json()["id"])
    assert submission.status == Submission.Status.SUBMITTED  # durable: the sweeper sends it later
    messages = [record.getMessage() for record in caplog.records]
    assert "throttle 'submissions' skipped: the cache is unreachable" in messages, messages
    assert_audit_clean()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_claim_page_stores_the_submission_and_answers_as_usual(redis_down, claim):
    client = Client()
    client.force_login(claim.farmer)

    response = client.post(f"/farm/claims/{claim.pk}/", {"demonstration": json.dumps(demonstration())})

    submission = Submission.objects.get(claim=claim)
    assert response.status_code == 302, response.status_code
    assert response["Location"] == f"/farm/submissions/{submission.pk}/"
    assert submission.status == Submission.Status.SUBMITTED
    assert client.get(response["Location"]).status_code == 200


def test_login_guessing_is_still_locked_out_while_the_throttles_are_open(redis_down, api, settings):
    """The token throttle fails open, so the brute-force limit that remains is django-axes',
    which counts failures in PostgreSQL, not in the cache."""
    settings.AXES_ENABLED = True
    FarmerFactory(username="victim")
    answers = [
        api.post("/api/v1/auth/token/", {"username": "victim", "password": f"guess-{n}"}, format="json").status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    locked = api.post("/api/v1/auth/token/", {"username": "victim", "password": PASSWORD}, format="json")

    assert answers == [400] * (settings.AXES_FAILURE_LIMIT - 1) + [429]
    assert locked.status_code == 429  # even with the right password
