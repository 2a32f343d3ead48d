"""Creating, listing and viewing factories through the API: roles, field errors, visibility."""

import pytest

from ledger.models import Account, Transaction
from pools.models import Factory, RateChange
from pools.services.factories import factory_close, factory_pause
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

VALID = {
    "title": "Budget sheet",
    "instructions": "Create a spreadsheet named Budget and fill the sheet.",
    "token": "USDC",
    "reward": "0.2",
}


def _nothing_written():
    assert Factory.objects.count() == 0
    assert RateChange.objects.count() == 0
    assert Account.objects.filter(kind__in=[Account.Kind.POOL_AVAILABLE, Account.Kind.POOL_RESERVED]).count() == 0
    assert Transaction.objects.count() == 0


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"count", "next", "previous", "results"}
    return {row["id"] for row in body["results"]}


def test_creator_creates_a_draft_factory_with_an_empty_pool(as_user, creator):
    response = as_user(creator).post(
        "/api/v1/factories/",
        {**VALID, "target_count": 50, "min_reputation": "60", "expected_minutes": 7},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["title"] == "Budget sheet"
    assert body["token"] == "USDC"
    assert body["reward"] == "0.200000"
    assert body["status"] == "draft"
    assert body["target_count"] == 50
    assert body["min_reputation"] == "60.00"
    assert body["expected_minutes"] == 7
    assert body["pool"] == {
        "deposited": "0.000000",
        "available": "0.000000",
        "reserved": "0.000000",
        "paid_out": "0.000000",
        "refunded": "0.000000",
    }
    assert body["rate_history"] == [{"old_reward": None, "new_reward": "0.200000", "changed_at": body["created_at"]}]
    factory = Factory.objects.get(pk=body["id"])
    assert factory.creator == creator
    assert factory.reward == 200_000
    assert factory.available_account.holder == f"pool:{factory.pk}"


def test_an_open_ended_factory_has_no_target_count(as_user, creator):
    response = as_user(creator).post("/api/v1/factories/", VALID, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["target_count"] is None
    assert response.json()["slots_left"] is None


def test_a_farmer_cannot_create_a_factory(as_user, farmer):
    response = as_user(farmer).post("/api/v1/factories/", VALID, format="json")

    assert response.status_code == 403
    _nothing_written()


def test_an_anonymous_caller_cannot_create_a_factory(api):
    response = api.post("/api/v1/factories/", VALID, format="json")

    assert response.status_code == 401
    _nothing_written()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"token": "DOGE"}, "token"),
        ({"reward": "0.1234567"}, "reward"),  # USDC has 6 decimals: refused, never rounded
        ({"reward": "-1"}, "reward"),
        ({"reward": "0"}, "reward"),
        ({"reward": "0.000000"}, "reward"),
        ({"reward": 0.2}, "reward"),  # a JSON number could have been a float: refused
        ({"reward": "two"}, "reward"),
        ({"target_count": 9}, "target_count"),
        ({"target_count": 100_001}, "target_count"),
        ({"title": ""}, "title"),
        ({"instructions": ""}, "instructions"),
        ({"min_reputation": "101"}, "min_reputation"),
    ],
)
def test_invalid_factory_fields_answer_400_with_field_errors_and_write_nothing(as_user, creator, changes, field):
    response = as_user(creator).post("/api/v1/factories/", {**VALID, **changes}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert field in body, body
    assert isinstance(body[field], list)
    assert body[field]
    _nothing_written()


def test_several_invalid_fields_are_reported_together(as_user, creator):
    response = as_user(creator).post(
        "/api/v1/factories/", {**VALID, "reward": "0.1234567", "target_count": 5}, format="json"
    )

    assert response.status_code == 400
    assert {"reward", "target_count"} <= set(response.json())
    _nothing_written()


def test_target_count_bounds_are_inclusive(as_user, creator):
    client = as_user(creator)

    assert client.post("/api/v1/factories/", {**VALID, "target_count": 10}, format="json").status_code == 201
    assert client.post("/api/v1/factories/", {**VALID, "target_count": 100_000}, format="json").status_code == 201


def test_a_creator_lists_only_their_own_factories(as_user, creator):
    mine_draft = funded_factory(creator, deposit=None)
    mine_active = funded_factory(creator)
    someone_elses = funded_factory(CreatorFactory())

    ids = _ids(as_user(creator).get("/api/v1/factories/"))

    assert ids == {mine_draft.pk, mine_active.pk}
    assert someone_elses.pk not in ids


def test_a_farmer_lists_only_active_funded_factories_with_room(as_user, farmer):
    owner = CreatorFactory()
    open_one = funded_factory(owner, reward="0.2", deposit="1")
    exactly_one_reward = funded_factory(owner, reward="0.2", deposit="0.2")
    draft = funded_factory(owner, deposit=None)
    below_one_reward = funded_factory(owner, reward="0.2", deposit="0.199999")
    paused = funded_factory(owner)
    factory_pause(factory=paused, actor=owner)
    closed = funded_factory(owner)
    factory_close(factory=closed, actor=owner)
    full = funded_factory(owner, target_count=10)
    Factory.objects.filter(pk=full.pk).update(accepted_count=7, in_flight_count=3)  # 7 accepted + 3 in flight
    nearly_full = funded_factory(owner, target_count=10)
    Factory.objects.filter(pk=nearly_full.pk).update(accepted_count=7, in_flight_count=2)

    ids = _ids(as_user(farmer).get("/api/v1/factories/"))

    assert ids == {open_one.pk, exactly_one_reward.pk, nearly_full.pk}
    assert not ids & {draft.pk, below_one_reward.pk, paused.pk, closed.pk, full.pk}


def test_a_farmer_gets_404_for_someone_elses_draft(as_user, farmer):
    draft = funded_factory(CreatorFactory(), deposit=None)

    response = as_user(farmer).get(f"/api/v1/factories/{draft.pk}/")

    assert response.status_code == 404


def test_another_creator_gets_404_for_a_draft_that_is_not_theirs(as_user, creator):
    draft = funded_factory(CreatorFactory(), deposit=None)

    assert as_user(creator).get(f"/api/v1/factories/{draft.pk}/").status_code == 404


def test_a_farmer_sees_an_open_factory_with_its_pool(as_user, farmer):
    factory = funded_factory(CreatorFactory(), reward="0.25", deposit="2")

    response = as_user(farmer).get(f"/api/v1/factories/{factory.pk}/")

    assert response.status_code == 200
    body = response.json()
    assert {"id", "title", "token", "reward", "status", "target_count", "min_reputation", "pool"} <= set(body)
    assert body["reward"] == "0.250000"
    assert body["status"] == "active"
    assert body["pool"]["deposited"] == "2.000000"
    assert body["pool"]["available"] == "2.000000"


def test_the_owner_sees_their_draft(as_user, creator):
    draft = funded_factory(creator, deposit=None)

    response = as_user(creator).get(f"/api/v1/factories/{draft.pk}/")

    assert response.status_code == 200
    assert response.json()["status"] == "draft"


def test_a_missing_factory_is_404(as_user, creator):
    assert as_user(creator).get("/api/v1/factories/999999/").status_code == 404


def test_listing_factories_needs_credentials(api):
    assert api.get("/api/v1/factories/").status_code == 401


def test_a_paused_factory_is_hidden_from_farmers(as_user):
    owner = CreatorFactory()
    factory = funded_factory(owner)
    factory_pause(factory=factory, actor=owner)

    assert as_user(FarmerFactory()).get(f"/api/v1/factories/{factory.pk}/").status_code == 404


def test_the_owner_pauses_and_resumes_an_active_factory(as_user, creator, farmer):
    factory = funded_factory(creator)
    client = as_user(creator)

    response = client.post(f"/api/v1/factories/{factory.pk}/pause/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "paused"
    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 409

    response = client.post(f"/api/v1/factories/{factory.pk}/resume/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "active"
    assert as_user(farmer).post(f"/api/v1/factories/{factory.pk}/claims/").status_code == 201


def test_repeating_a_pause_or_resume_is_a_harmless_no_op(as_user, creator):
    factory = funded_factory(creator)
    client = as_user(creator)

    assert client.post(f"/api/v1/factories/{factory.pk}/pause/").status_code == 200
    assert client.post(f"/api/v1/factories/{factory.pk}/pause/").json()["status"] == "paused"
    assert client.post(f"/api/v1/factories/{factory.pk}/resume/").status_code == 200
    assert client.post(f"/api/v1/factories/{factory.pk}/resume/").json()["status"] == "active"


@pytest.mark.parametrize(
    ("setup", "action"),
    [
        ("draft", "pause"),  # a draft becomes active by being funded, never by hand
        ("draft", "resume"),
        ("closed", "pause"),
        ("closed", "resume"),
    ],
)
def test_invalid_status_transitions_answer_409_and_change_nothing(as_user, creator, setup, action):
    factory = funded_factory(creator, deposit=None)
    if setup == "closed":
        factory_close(factory=factory, actor=creator)

    response = as_user(creator).post(f"/api/v1/factories/{factory.pk}/{action}/")

    assert response.status_code == 409, response.json()
    assert "detail" in response.json()
    factory.refresh_from_db()
    assert factory.status == setup


@pytest.mark.parametrize("action", ["pause", "resume", "close"])
def test_only_the_owner_changes_a_factorys_status(as_user, creator, action):
    factory = funded_factory(creator)
    if action == "resume":
        factory_pause(factory=factory, actor=creator)
    before = Factory.objects.get(pk=factory.pk).status

    assert as_user(CreatorFactory()).post(f"/api/v1/factories/{factory.pk}/{action}/").status_code == 403
    assert as_user(FarmerFactory()).post(f"/api/v1/factories/{factory.pk}/{action}/").status_code == 403
    assert Factory.objects.get(pk=factory.pk).status == before
    assert as_user(creator).post(f"/api/v1/factories/999999/{action}/").status_code == 404


def test_the_openapi_schema_has_the_factory_endpoints_with_their_own_request_bodies(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = response.json()
    for action in ("pause", "resume", "close", "rate", "deposits", "claims"):
        assert f"/api/v1/factories/{{id}}/{action}/" in schema["paths"]
    components = schema["components"]["schemas"]
    assert "title" in components["FactoryCreateInputRequest"]["properties"]
    assert set(components["FactoryRateInputRequest"]["properties"]) == {"reward"}
    assert set(components["DepositCreateInputRequest"]["properties"]) == {"amount", "tx_ref"}
