"""Shared fixtures: users by role, money set-up through the services, an API client, and a
real Celery worker on Redis for integration tests."""

from __future__ import annotations

import os

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import CreatorFactory, FarmerFactory, GraderFactory, StaffFactory


def pytest_collection_modifyitems(config, items):
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI does)"))
        if "integration" in item.keywords and not (broker and on_postgres):
            item.add_marker(
                pytest.mark.skip(reason="needs Redis + PostgreSQL: set CELERY_BROKER_URL and DATABASE_URL (CI does)")
            )


@pytest.fixture(autouse=True)
def _no_axes_lockouts_between_tests(settings):
    settings.AXES_ENABLED = False


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


@pytest.fixture
def is_postgres():
    return connection.vendor == "postgresql"
