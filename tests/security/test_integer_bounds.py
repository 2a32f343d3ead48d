"""A factory's integer terms have one set of bounds (pools.models.FACTORY_TERM_BOUNDS), the
same on the API, the create and edit pages and the service: past them is a 400 or a form error
next to the field, never a 500, and nothing changes.

Before, `per_farmer_limit` had no upper bound on the API and none of the terms had one on the
pages: 2**63 went to PostgreSQL ("integer out of range") as a 500, and 10**6 expected minutes was
stored."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from pools.models import FACTORY_TERM_BOUNDS, EconomicsConfig, Factory
from tests.money_helpers import funded_factory
from tests.security.world import money_state

pytestmark = pytest.mark.django_db

HUGE = [2**31, 2**63, 2**64, 10**30]
TERMS = ["target_count", "expected_minutes", "claim_timeout_minutes", "per_farmer_limit"]
CREATE = {"title": "t", "instructions": "i", "token": "USDC", "reward": "0.1"}
PAGE_FORM = {
    "title": "Budget sheet",
    "instructions": "Make a budget sheet",
    "expected_minutes": "10",
    "claim_timeout_minutes": "60",
    "min_reputation": "0",
}


def _field_errors(html: str, field: str) -> str:
    match = re.search(rf'<ul id="id_{field}_error" class="field-errors">(.*?)</ul>', html, re.S)
    return match.group(1) if match else ""


@pytest.fixture
def creator_client(creator):
    client = Client()
    client.force_login(creator)
    return client


def test_every_integer_term_has_bounds_and_the_model_uses_them():
    for name in TERMS:
        low, high = FACTORY_TERM_BOUNDS[name]
        field = Factory._meta.get_field(name)
        limits = {type(v).__name__: v.limit_value for v in field.validators if hasattr(v, "limit_value")}
        assert limits["MinValueValidator"] == low
        assert limits["MaxValueValidator"] == high
        assert high < 2**31  # fits the PositiveIntegerField column


@pytest.mark.parametrize("name", TERMS)
@pytest.mark.parametrize("value", HUGE, ids=lambda value: f"{value:.0e}")
def test_the_api_refuses_huge_terms_with_a_400_naming_the_field(name, value, creator, as_user):
    client = as_user(creator)
    before = money_state()

    response = client.post("/api/v1/factories/", {**CREATE, name: value}, format="json")

    assert response.status_code == 400, response.content
    assert name in response.json()
    assert money_state() == before


@pytest.mark.parametrize("name", TERMS)
def test_the_api_takes_each_bound_and_refuses_one_past_it(name, creator, as_user):
    client = as_user(creator)
    low, high = FACTORY_TERM_BOUNDS[name]

    assert client.post("/api/v1/factories/", {**CREATE, name: high}, format="json").status_code == 201
    assert client.post("/api/v1/factories/", {**CREATE, name: low}, format="json").status_code == 201
    for value in (high + 1, low - 1):
        response = client.post("/api/v1/factories/", {**CREATE, name: value}, format="json")
        assert response.status_code == 400
        assert name in response.json()


@pytest.mark.parametrize("name", TERMS)
@pytest.mark.parametrize("value", [*HUGE, "past the bound"], ids=str)
def test_the_edit_page_refuses_huge_terms_next_to_the_field(name, value, creator, creator_client):
    factory = funded_factory(creator, deposit="1")
    if value == "past the bound":
        value = FACTORY_TERM_BOUNDS[name][1] + 1
    before = money_state()

    response = creator_client.post(reverse("pools:factory-edit", args=[factory.pk]), {**PAGE_FORM, name: str(value)})

    assert response.status_code == 200
    high = FACTORY_TERM_BOUNDS[name][1]
    assert f"{high:,}" in _field_errors(response.content.decode(), name)
    assert money_state() == before


@pytest.mark.parametrize("name", TERMS)
def test_the_create_page_refuses_huge_terms_next_to_the_field(name, creator_client):
    response = creator_client.post(
        reverse("pools:factory-create"), {**PAGE_FORM, "token": "USDC", "reward": "0.2", name: str(2**63)}
    )

    assert response.status_code == 200
    assert f"{FACTORY_TERM_BOUNDS[name][1]:,}" in _field_errors(response.content.decode(), name)
    assert not Factory.objects.exists()


@pytest.mark.parametrize("name", TERMS)
def test_the_pages_show_the_bounds_to_the_browser(name, creator, creator_client):
    factory = funded_factory(creator, deposit="1")
    html = creator_client.get(reverse("pools:factory-edit", args=[factory.pk])).content.decode()

    low, high = FACTORY_TERM_BOUNDS[name]
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', html).group()
    assert f'min="{low}"' in tag
    assert f'max="{high}"' in tag


def test_the_edit_page_saves_terms_at_their_bounds(creator, creator_client):
    factory = funded_factory(creator, deposit="1")
    highs = {name: str(FACTORY_TERM_BOUNDS[name][1]) for name in TERMS}

    response = creator_client.post(reverse("pools:factory-edit", args=[factory.pk]), {**PAGE_FORM, **highs})

    assert response.status_code == 302
    factory.refresh_from_db()
    assert {name: str(getattr(factory, name)) for name in TERMS} == highs


@pytest.mark.parametrize(
    "field, value", [("default_claim_timeout_minutes", 2**40), ("unstake_cooldown_hours", 2**31 - 1)]
)
def test_the_economics_settings_refuse_values_past_their_bounds(field, value, staff):
    """The staff admin form: an unbounded cooldown overflowed the date of every later unstake."""
    client = Client()
    client.force_login(staff)
    config = EconomicsConfig.objects.get()
    data = {
        "platform_fee_rate": str(config.platform_fee_rate),
        "quality_threshold": str(config.quality_threshold),
        "default_claim_timeout_minutes": str(config.default_claim_timeout_minutes),
        "unstake_cooldown_hours": str(config.unstake_cooldown_hours),
        field: str(value),
    }

    response = client.post(reverse("admin:pools_economicsconfig_change", args=[config.pk]), data)

    assert response.status_code == 200  # the form again, with the error
    assert "less than or equal to" in response.content.decode()
    assert getattr(EconomicsConfig.objects.get(), field) == getattr(config, field)
