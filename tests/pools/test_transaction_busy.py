"""A transaction that loses every retry to deadlocks answers 503 with Retry-After, on the API
and on pages, never a 500, and writes nothing (issue 20 row 3; ledger/locks.py)."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from core.db import TransactionBusy, atomic_with_retry
from pools.models import Factory, RateChange
from tests.factories import CreatorFactory
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


class Deadlocked(Exception):
    sqlstate = "40P01"


def _always_deadlocked(**kwargs):
    """What the rate change meets when PostgreSQL picks it as the victim every time."""
    raise OperationalError("deadlock detected") from Deadlocked()


@pytest.fixture
def busy(monkeypatch):
    # The service as the API and the page call it, with every retry lost.
    from pools import apis, views

    monkeypatch.setattr(apis, "factory_rate_change", lambda **kwargs: _raise_busy())
    monkeypatch.setattr(views, "factory_rate_change", lambda **kwargs: _raise_busy())


def _raise_busy():
    raise TransactionBusy()


def test_the_api_answers_503_with_retry_after(busy, as_user):
    factory = funded_factory(CreatorFactory(), deposit="1")

    response = as_user(factory.creator).post(f"/api/v1/factories/{factory.pk}/rate/", {"reward": "0.3"}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "try again" in response.json()["detail"]
    assert Factory.objects.get(pk=factory.pk).reward == 200_000


def test_the_page_answers_503_with_retry_after(busy):
    factory = funded_factory(CreatorFactory(), deposit="1")
    client = Client(raise_request_exception=False)
    client.force_login(factory.creator)

    response = client.post(reverse("pools:factory-rate", args=[factory.pk]), {"reward": "0.3"})

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert b"try again" in response.content
    assert Factory.objects.get(pk=factory.pk).reward == 200_000


def test_a_deadlock_outside_any_retry_is_a_503_too(monkeypatch, as_user):
    from pools import apis

    monkeypatch.setattr(apis, "factory_rate_change", _always_deadlocked)
    factory = funded_factory(CreatorFactory(), deposit="1")

    response = as_user(factory.creator).post(f"/api/v1/factories/{factory.pk}/rate/", {"reward": "0.3"}, format="json")

    assert response.status_code == 503
    assert response["Retry-After"] == "2"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_retry_runs_the_whole_transaction_again_and_then_gives_up(monkeypatch):
    """Outermost, the service runs again whole (nothing of a lost attempt stays); past the
    attempts it raises TransactionBusy with nothing written."""
    factory = funded_factory(CreatorFactory(), deposit="1")
    monkeypatch.setattr("core.db.BACKOFF_SECONDS", 0)
    attempts = []

    @atomic_with_retry
    def rate_change_that_loses(times: int):
        attempts.append(1)
        RateChange.objects.create(factory=factory, old_reward=1, new_reward=2, changed_by=factory.creator)
        if len(attempts) <= times:
            _always_deadlocked()
        return "done"

    assert rate_change_that_loses(2) == "done"
    assert len(attempts) == 3
    assert RateChange.objects.filter(factory=factory, new_reward=2).count() == 1  # the lost ones rolled back

    attempts.clear()
    with pytest.raises(TransactionBusy):
        rate_change_that_loses(99)
    assert len(attempts) == 4
    assert RateChange.objects.filter(factory=factory, new_reward=2).count() == 1
