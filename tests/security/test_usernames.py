"""Usernames that look like another are refused at registration, on the API and the page:
mixed scripts ("alice" with a Cyrillic "e"), compatibility forms (full-width letters), and any
name whose TS #39 skeleton is taken ("aIice", "a1ice" or an all-Cyrillic "scope" once the
Latin one exists). Existing users keep their names.

Before, a Cyrillic "a" (U+0430) in "alice" was accepted (`\\w` matches it) and shown to creators."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.usernames import username_problems, username_skeleton
from tests.factories import FarmerFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
CYRILLIC_A = "\u0430"


def _register(api, username: str):
    return api.post(
        "/api/v1/auth/register/", {"username": username, "password": PASSWORD, "role": "farmer"}, format="json"
    )


def _register_page(username: str):
    return Client().post(
        "/accounts/signup/",
        {"username": username, "password1": PASSWORD, "password2": PASSWORD, "role": "farmer"},
    )


@pytest.mark.parametrize(
    "name, why",
    [
        (f"{CYRILLIC_A}lice", "Cyrillic and Latin"),
        ("alic\u0435", "Cyrillic and Latin"),  # Cyrillic ie
        ("p\u0430ypal", "Cyrillic and Latin"),
        ("\u03bfscar", "Greek and Latin"),  # Greek omicron
        ("\uff41lice", "ordinary characters"),  # full-width a
    ],
)
def test_mixed_script_and_compatibility_names_are_refused_on_the_api_and_the_page(name, why, api):
    response = _register(api, name)

    assert response.status_code == 400, response.content
    assert why in " ".join(response.json()["username"])
    page = _register_page(name)
    assert page.status_code == 200
    assert why in " ".join(page.context["form"].errors["username"])
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "existing, lookalike",
    [
        ("alice", "aIice"),
        ("alice", "a1ice"),
        ("alice", "ALICE"),
        ("alice", "Alice"),
        ("mary", "rnary"),
        ("scope", "\u0455\u0441\u043e\u0440\u0435"),  # every letter Cyrillic: one script, same look
        ("\u0455\u0441\u043e\u0440\u0435", "scope"),  # and the other way round
    ],
    ids=["capital I", "digit one", "upper case", "capitalised", "rn for m", "all Cyrillic", "Latin after Cyrillic"],
)
def test_a_name_that_looks_like_an_existing_one_is_unavailable(existing, lookalike, api):
    assert _register(api, existing).status_code == 201

    response = _register(api, lookalike)

    assert response.status_code == 400, (lookalike, response.content)
    assert "taken" in " ".join(response.json()["username"])
    page = _register_page(lookalike)
    assert "taken" in " ".join(page.context["form"].errors["username"])
    assert list(User.objects.values_list("username", flat=True)) == [existing]


def test_rn_and_m_look_alike():
    assert username_skeleton("rnary") == username_skeleton("mary")
    assert username_skeleton("alice") == username_skeleton("\u0430lice") == username_skeleton("aIice")
    assert username_skeleton("alice") != username_skeleton("alicia")


@pytest.mark.parametrize("name", ["José", "renée_2", "Ωμέγα", "Иван", "田中太郎", "user.name+tag@x"])
def test_single_script_names_in_any_alphabet_are_welcome(name, api):
    assert username_problems(name) == []
    assert _register(api, name).status_code == 201


def test_a_decomposed_accent_is_the_same_name_as_a_composed_one(api):
    assert _register(api, "Jos\u00e9").status_code == 201

    response = _register(api, "Jose\u0301")

    assert response.status_code == 400
    assert User.objects.count() == 1


def test_existing_users_keep_their_names_and_still_sign_in(api):
    """A user made before the rule (or by staff) with a mixed-script name is not touched."""
    old = FarmerFactory(username=f"{CYRILLIC_A}lice")

    response = api.post("/api/v1/auth/token/", {"username": old.username, "password": PASSWORD}, format="json")

    assert response.status_code == 200
    old.refresh_from_db()
    assert old.username == f"{CYRILLIC_A}lice"
    assert _register(api, "alice").status_code == 400  # its look-alike is unavailable


def test_the_skeleton_follows_a_rename_and_is_left_alone_by_other_saves():
    user = FarmerFactory(username="bob")
    user.username = "robert"
    user.save(update_fields=["username"])
    user.refresh_from_db()
    assert user.username_skeleton == username_skeleton("robert")

    User.objects.filter(pk=user.pk).update(username_skeleton=None)
    user.refresh_from_db()
    user.save(update_fields=["last_login"])
    user.refresh_from_db()
    assert user.username_skeleton is None


def test_staff_cannot_create_or_rename_a_user_into_a_lookalike_either(staff):
    from django.urls import reverse

    FarmerFactory(username="alice")
    bob = FarmerFactory(username="bob")
    client = Client()
    client.force_login(staff)

    created = client.post(
        reverse("admin:accounts_user_add"),
        {
            "username": "aIice",
            "password1": PASSWORD,
            "password2": PASSWORD,
            "usable_password": "true",
            "role": "farmer",
        },
    )
    renamed = client.post(
        reverse("admin:accounts_user_change", args=[bob.pk]),
        {"username": "a1ice", "role": "farmer", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"},
    )

    assert created.status_code == 200 and "looks like" in created.content.decode()
    assert renamed.status_code == 200 and "looks like" in renamed.content.decode()
    assert sorted(User.objects.values_list("username", flat=True)) == ["alice", "bob", staff.username]


def test_the_migration_fills_skeletons_oldest_first_and_leaves_existing_lookalikes_alone():
    import importlib

    from django.apps import apps

    migration = importlib.import_module("accounts.migrations.0003_user_username_skeleton")
    first = FarmerFactory(username="alice")
    second = FarmerFactory(username="placeholder")
    other = FarmerFactory(username="bob")
    User.objects.update(username_skeleton=None)  # as before the migration, when this could exist:
    User.objects.filter(pk=second.pk).update(username=f"{CYRILLIC_A}lice")
    second.refresh_from_db()

    migration.fill_skeletons(apps, None)

    skeletons = dict(User.objects.values_list("username", "username_skeleton"))
    assert skeletons[first.username] == username_skeleton("alice")
    assert skeletons[second.username] is None
    assert skeletons[other.username] == username_skeleton("bob")
