"""POST /api/v1/me/ambassador/: any creator or farmer becomes an ambassador, once."""

import re
import threading

import pytest
from django.db import connection

from referrals.models import Ambassador
from referrals.services import CODE_ALPHABET, CODE_LENGTH, ambassador_create
from tests.factories import CreatorFactory, FarmerFactory

pytestmark = pytest.mark.django_db


def test_becoming_an_ambassador_returns_201_with_a_code_tier_and_rate(as_user, farmer):
    response = as_user(farmer).post("/api/v1/me/ambassador/")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}", body["code"])
    assert body["tier"] == 0
    assert body["commission_rate"] == "0.00000"
    assert body["link"].endswith(f"/r/{body['code']}")
    assert Ambassador.objects.get(user=farmer).code == body["code"]


def test_asking_again_returns_200_with_the_same_code(as_user, creator):
    client = as_user(creator)
    first = client.post("/api/v1/me/ambassador/").json()

    response = client.post("/api/v1/me/ambassador/")

    assert response.status_code == 200
    assert response.json()["code"] == first["code"]
    assert Ambassador.objects.filter(user=creator).count() == 1


def test_reading_your_ambassador_status(as_user, farmer):
    client = as_user(farmer)
    assert client.get("/api/v1/me/ambassador/").status_code == 404
    code = client.post("/api/v1/me/ambassador/").json()["code"]

    response = client.get("/api/v1/me/ambassador/")

    assert response.status_code == 200
    assert response.json()["code"] == code


def test_anonymous_callers_get_401(api):
    assert api.post("/api/v1/me/ambassador/").status_code == 401


def test_the_grading_service_account_cannot_be_an_ambassador(as_user, grader):
    assert as_user(grader).post("/api/v1/me/ambassador/").status_code == 403
    assert not Ambassador.objects.exists()


def test_codes_use_only_unambiguous_characters_and_are_unique():
    codes = [ambassador_create(user=FarmerFactory())[0].code for _ in range(40)]

    assert len(set(codes)) == len(codes)
    for code in codes:
        assert len(code) == CODE_LENGTH
        assert not set(code) & set("01OIL"), code
        assert set(code) <= set(CODE_ALPHABET)


def test_a_drawn_code_that_is_taken_is_drawn_again(monkeypatch):
    taken = ambassador_create(user=CreatorFactory())[0].code
    draws = iter([taken, taken, "ABCDEFGH"])
    monkeypatch.setattr("referrals.services._new_code", lambda: next(draws))

    ambassador, created = ambassador_create(user=FarmerFactory())

    assert created
    assert ambassador.code == "ABCDEFGH"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_requests_make_one_ambassador():
    user = FarmerFactory()
    barrier = threading.Barrier(2)
    results, errors = [], []

    def become():
        try:
            barrier.wait(timeout=10)
            results.append(ambassador_create(user=user))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=become) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    assert Ambassador.objects.filter(user=user).count() == 1
    assert sorted(created for _, created in results) == [False, True]
    assert len({ambassador.code for ambassador, _ in results}) == 1
