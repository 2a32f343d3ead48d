"""One access helper per object (pools/access.py), used by the API and the pages alike: the
same refusal gives the same answer on both (the API contract's "Errors": 404 for what does not
exist or is not visible to the caller, 403 for someone else's object the caller acts on)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from core.exceptions import Forbidden, NotFound
from datasets.access import access_export
from datasets.models import Export
from pools.access import access_claim, access_factory, access_submission
from pools.models import Factory
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.conftest import client_for
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

MISSING = 2**31 - 7


@pytest.fixture
def factory():
    return funded_factory(CreatorFactory(), reward="0.2", deposit="1")


def page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


# ---- The helpers' rules -----------------------------------------------------------------------


def test_access_factory_for_each_need(factory):
    owner, stranger, staff, farmer = factory.creator, CreatorFactory(), StaffFactory(), FarmerFactory()

    for need in ("view", "owner", "dataset"):
        assert access_factory(owner, factory.pk, need=need) == factory
        assert access_factory(staff, factory.pk, need=need) == factory
        with pytest.raises(NotFound, match="No such factory"):
            access_factory(owner, MISSING, need=need)
    with pytest.raises(NotFound):
        access_factory(stranger, factory.pk, need="view")  # a creator sees only their own
    assert access_factory(farmer, factory.pk, need="view") == factory  # open to farmers
    for user in (stranger, farmer):
        with pytest.raises(Forbidden, match="Only the factory's creator"):
            access_factory(user, factory.pk, need="owner")
        with pytest.raises(NotFound):
            access_factory(user, factory.pk, need="dataset")
    with pytest.raises(ValueError):
        access_factory(owner, factory.pk, need="admin")


def test_access_factory_for_update_locks_the_factory_row_only(factory):
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = access_factory(factory.creator, factory.pk, need="owner", for_update=True)
    assert locked.pk == factory.pk
    assert any('FOR NO KEY UPDATE OF "pools_factory"' in query["sql"] for query in queries.captured_queries)


def _submitted(factory, farmer):
    claim = claim_create(factory=factory, farmer=farmer)
    return claim, submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())


def test_access_submission_and_claim(factory):
    farmer, other = FarmerFactory(), FarmerFactory()
    claim, submission = _submitted(factory, farmer)

    for user in (farmer, factory.creator, StaffFactory()):
        assert access_submission(user, submission.pk) == submission
    for user in (other, CreatorFactory()):
        with pytest.raises(NotFound, match="No such submission"):
            access_submission(user, submission.pk)
    assert access_claim(farmer, claim.pk) == claim
    for user in (other, factory.creator):
        with pytest.raises(NotFound, match="No such claim"):
            access_claim(user, claim.pk)


def test_access_export(factory):
    export = Export.objects.create(factory=factory, requested_by=factory.creator)

    assert access_export(factory.creator, export.pk) == export
    assert access_export(StaffFactory(), export.pk, factory_id=factory.pk) == export
    other = funded_factory(CreatorFactory(), deposit="1")
    for user, factory_id in ((CreatorFactory(), None), (FarmerFactory(), None), (factory.creator, other.pk)):
        with pytest.raises(NotFound, match="No such export"):
            access_export(user, export.pk, factory_id=factory_id)


# ---- The same refusal, the same answer, on the API and the pages ------------------------------


OWNER_ACTIONS = [
    # (API path, page URL name, page body)
    ("rate/", "pools:factory-rate", {"reward": "0.3"}),
    ("pause/", "pools:factory-pause", {}),
    ("close/", "pools:factory-close", {}),
    ("deposits/", "pools:factory-fund", {"amount": "1", "tx_ref": "sig-access"}),
]


@pytest.mark.parametrize(("api", "page", "body"), OWNER_ACTIONS)
def test_acting_on_someone_elses_factory_is_403_on_api_and_page(factory, api, page, body):
    stranger = CreatorFactory()

    via_api = client_for(stranger).post(f"/api/v1/factories/{factory.pk}/{api}", body, format="json")
    via_page = page_client(stranger).post(reverse(page, args=[factory.pk]), body)

    assert (via_api.status_code, via_page.status_code) == (403, 403)
    assert via_api.json()["detail"] == "Only the factory's creator can do this."
    factory.refresh_from_db()
    assert (factory.status, factory.reward) == (Factory.Status.ACTIVE, 200_000)


@pytest.mark.parametrize(("api", "page", "body"), OWNER_ACTIONS)
def test_acting_on_a_factory_that_does_not_exist_is_404_on_api_and_page(factory, api, page, body):
    via_api = client_for(factory.creator).post(f"/api/v1/factories/{MISSING}/{api}", body, format="json")
    via_page = page_client(factory.creator).post(reverse(page, args=[MISSING]), body)

    assert (via_api.status_code, via_page.status_code) == (404, 404)


def test_looking_at_someone_elses_factory_is_404_on_api_and_page(factory):
    stranger = CreatorFactory()

    via_api = client_for(stranger).get(f"/api/v1/factories/{factory.pk}/")
    via_page = page_client(stranger).get(reverse("pools:factory-detail", args=[factory.pk]))

    assert (via_api.status_code, via_page.status_code) == (404, 404)


def test_someone_elses_dataset_and_export_are_404_on_api_and_page(factory):
    stranger = CreatorFactory()
    export = Export.objects.create(factory=factory, requested_by=factory.creator)

    assert client_for(stranger).get(f"/api/v1/factories/{factory.pk}/demonstrations/").status_code == 404
    assert page_client(stranger).get(reverse("pools:factory-dataset", args=[factory.pk])).status_code == 404
    assert client_for(stranger).get(f"/api/v1/exports/{export.pk}/").status_code == 404
    page = reverse("pools:factory-export", args=[factory.pk, export.pk])
    assert page_client(stranger).get(page).status_code == 404


def test_someone_elses_submission_and_claim_are_404_on_api_and_page(factory):
    farmer, other = FarmerFactory(), FarmerFactory()
    _, submission = _submitted(factory, farmer)
    open_claim = claim_create(factory=factory, farmer=farmer)

    assert client_for(other).get(f"/api/v1/submissions/{submission.pk}/").status_code == 404
    assert page_client(other).get(reverse("farmers:submission", args=[submission.pk])).status_code == 404
    via_api = client_for(other).post(
        f"/api/v1/claims/{open_claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )
    assert via_api.status_code == 404
    assert via_api.json()["detail"] == "No such claim."
    assert page_client(other).get(reverse("farmers:claim", args=[open_claim.pk])).status_code == 404


def test_claiming_a_draft_factory_is_refused_alike_on_api_and_page():
    """Not a 404 on the page and a 409 on the API: both say why (the page as a message)."""
    draft = funded_factory(CreatorFactory(), deposit=None)
    farmer = FarmerFactory()

    via_api = client_for(farmer).post(f"/api/v1/factories/{draft.pk}/claims/")
    via_page = page_client(farmer).post(reverse("farmers:claim_start", args=[draft.pk]), follow=True)

    assert via_api.status_code == 409
    assert via_api.json()["detail"] in via_page.content.decode()
    assert (
        client_for(farmer).post(f"/api/v1/factories/{MISSING}/claims/").status_code
        == page_client(farmer).post(reverse("farmers:claim_start", args=[MISSING])).status_code
        == 404
    )
