"""Shared fixtures: users by role, money set-up through the services, an API client, and a
real Celery worker on Redis for integration tests."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from tests.factories import CreatorFactory, FarmerFactory, GraderFactory, StaffFactory


def pytest_collection_modifyitems(config, items):
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    from tests.e2e.browser import chromium_executable

    chromium = chromium_executable()
    _refuse_transactional_tests_without_serialized_rollback(items)
    for item in items:
        if "integration" in item.keywords and not broker:
            item.add_marker(pytest.mark.skip(reason="needs a real worker on Redis: set CELERY_BROKER_URL (CI does)"))
        if "e2e" in item.keywords and not chromium:
            item.add_marker(
                pytest.mark.skip(reason="needs Chromium: install Debian's chromium or set CHROMIUM_PATH (CI does)")
            )


# A farmer claims, then records, then submits; tests claim and submit at once. So that the
# grader's claim window (FORGE_GRADE_CLAIM_WINDOW, on in tests as in production) sees what
# production sees, every new claim is dated this much earlier (its expiry is unchanged), and
# the fixture recordings (tests.factories.demonstration) end when they are built. Longer than
# any fixture recording; a test that sets a claim's time itself does so after creating it.
CLAIM_LEAD = timedelta(minutes=8)


@pytest.fixture(autouse=True)
def _claims_made_before_the_recording():
    from django.db.models.signals import pre_save

    from pools.models import Claim

    def claimed_earlier(sender, instance, raw=False, **kwargs):
        if instance._state.adding and not raw and instance.created_at is not None:
            instance.created_at -= CLAIM_LEAD

    pre_save.connect(claimed_earlier, sender=Claim, weak=False, dispatch_uid="tests-claim-lead")
    yield
    pre_save.disconnect(sender=Claim, dispatch_uid="tests-claim-lead")


def _refuse_transactional_tests_without_serialized_rollback(items) -> None:
    """A transactional test flushes the database afterwards, and without serialized rollback
    post_migrate then recreates the content types: the next test *with* it restores its copy
    on top and every later transactional test fails at setup (47 did once). So every
    transactional test in this suite restores the serialized data."""
    offenders = []
    for item in items:
        marker = item.get_closest_marker("django_db")
        names = set(getattr(item, "fixturenames", ()))
        transactional = bool(marker and marker.kwargs.get("transaction")) or "transactional_db" in names
        serialized = bool(marker and marker.kwargs.get("serialized_rollback")) or (
            "django_db_serialized_rollback" in names
        )
        if transactional and not serialized:
            offenders.append(item.nodeid)
    if offenders:
        raise pytest.UsageError(
            "transactional tests need serialized rollback "
            "(django_db(transaction=True, serialized_rollback=True), or the django_db_serialized_rollback "
            "fixture beside transactional_db): " + ", ".join(offenders)
        )


@pytest.fixture(autouse=True)
def _no_axes_lockouts_between_tests(settings):
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Throttle counters and coalescing keys live in the cache: no test sees another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _reference_data(request):
    """Tokens, commission tiers and economics settings come from data migrations; a
    transactional test's flush removes them, so every database test starts with them."""
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    if not (marker or names & {"db", "transactional_db"}):
        return
    transactional = "transactional_db" in names or bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    _ensure_reference_data()


def _ensure_reference_data() -> None:
    from decimal import Decimal

    from django.conf import settings as django_settings

    from ledger.models import Token
    from pools.models import EconomicsConfig
    from referrals.models import CommissionTier

    for symbol, name, decimals, chain in (
        ("CLONES", "Clones", django_settings.FORGE_CLONES_DECIMALS, "solana"),
        ("USDC", "USD Coin", 6, "solana"),
        ("SOL", "Solana", 9, "solana"),
        ("ETH", "Ether", 18, "evm"),
    ):
        Token.objects.get_or_create(symbol=symbol, defaults={"name": name, "decimals": decimals, "chain": chain})
    from chain.models import ChainAsset  # chain migration 0003: ETH is the EVM chain's native coin

    ChainAsset.objects.get_or_create(token=Token.objects.get(symbol="ETH"), defaults={"contract_address": ""})
    for tier in range(1, 6):
        CommissionTier.objects.get_or_create(
            tier=tier, defaults={"commission_rate": Decimal(tier) / 100, "stake_threshold": Decimal(tier * 1_000_000)}
        )
    EconomicsConfig.objects.get_or_create(id=1)


@pytest.fixture
def creator(db):
    return CreatorFactory()


@pytest.fixture
def farmer(db):
    return FarmerFactory()


@pytest.fixture
def staff(db):
    return StaffFactory()


@pytest.fixture
def grader(db):
    return GraderFactory()


@pytest.fixture
def api():
    return APIClient()


def client_for(user) -> APIClient:
    from accounts.services import api_token_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_for(user)}")
    return client


@pytest.fixture
def as_user():
    return client_for
