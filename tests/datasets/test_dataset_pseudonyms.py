"""Farmers are pseudonymous in datasets: a name stable within one factory, unrelated across
factories (two creators cannot join their datasets on it), never the username."""

from __future__ import annotations

import re

import pytest

from datasets.selectors import farmer_pseudonym
from tests.factories import FarmerFactory
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import settled

pytestmark = pytest.mark.django_db

PSEUDONYM = re.compile(r"farmer-[0-9a-f]{12}")


def test_a_pseudonym_is_stable_within_a_factory_and_differs_across_factories_and_farmers():
    assert farmer_pseudonym(1, 7) == farmer_pseudonym(1, 7)
    assert PSEUDONYM.fullmatch(farmer_pseudonym(1, 7))
    assert farmer_pseudonym(1, 7) != farmer_pseudonym(2, 7)
    assert farmer_pseudonym(1, 7) != farmer_pseudonym(1, 8)
    # "1:17" and "11:7" must not collide through the separator.
    assert farmer_pseudonym(1, 17) != farmer_pseudonym(11, 7)


def test_a_pseudonym_depends_on_the_secret_key(settings):
    before = farmer_pseudonym(1, 7)
    settings.FORGE_PSEUDONYM_SECRET = "another-secret-for-pseudonyms"

    assert farmer_pseudonym(1, 7) != before


def test_the_pseudonym_secret_defaults_to_the_secret_key(settings):
    settings.FORGE_PSEUDONYM_SECRET = ""
    with_default = farmer_pseudonym(1, 7)
    settings.FORGE_PSEUDONYM_SECRET = settings.SECRET_KEY

    assert farmer_pseudonym(1, 7) == with_default


def test_lists_show_the_same_farmer_under_one_name_per_factory_never_the_username(
    creator, settings, as_user, django_capture_on_commit_callbacks
):
    settings.FORGE_GRADER = "manual"
    farmer = FarmerFactory(username="alice-real-name")
    first, second = funded_factory(creator), funded_factory(creator)
    capture = django_capture_on_commit_callbacks
    for factory in (first, first, second):
        settled(factory, farmer, capture=capture)
    client = as_user(creator)

    names_first = {
        row["farmer"] for row in client.get(f"/api/v1/factories/{first.pk}/demonstrations/").json()["results"]
    }
    page_second = client.get(f"/api/v1/factories/{second.pk}/demonstrations/")
    (name_second,) = {row["farmer"] for row in page_second.json()["results"]}

    assert len(names_first) == 1  # two demonstrations, one name
    (name_first,) = names_first
    assert name_first != name_second
    assert PSEUDONYM.fullmatch(name_first) and PSEUDONYM.fullmatch(name_second)
    assert "alice" not in page_second.content.decode()
