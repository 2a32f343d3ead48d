"""The main path through the HTTP API, as the desktop recorder and a creator use it."""

import pytest

from tests.factories import demonstration
from tests.money_helpers import assert_audit_clean

pytestmark = pytest.mark.django_db


def test_creator_funds_farmer_claims_submits_and_is_paid(
    as_user, creator, farmer, staff, django_capture_on_commit_callbacks
):
    creator_api, farmer_api = as_user(creator), as_user(farmer)
    response = creator_api.post(
        "/api/v1/factories/",
        {
            "title": "Budget sheet",
            "instructions": "Create a spreadsheet named Budget sheet",
            "token": "USDC",
            "reward": "0.2",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    factory_id = response.json()["id"]
    assert response.json()["status"] == "draft"

    response = creator_api.post(
        f"/api/v1/factories/{factory_id}/deposits/", {"amount": "1.000000", "tx_ref": "sig-1"}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "confirmed"
    pool = creator_api.get(f"/api/v1/factories/{factory_id}/").json()
    assert pool["status"] == "active"
    assert pool["pool"] == {
        "deposited": "1.000000",
        "available": "1.000000",
        "reserved": "0.000000",
        "paid_out": "0.000000",
        "refunded": "0.000000",
    }

    response = farmer_api.post(f"/api/v1/factories/{factory_id}/claims/")
    assert response.status_code == 201, response.json()
    claim = response.json()
    assert claim["reward"] == "0.200000"
    assert creator_api.get(f"/api/v1/factories/{factory_id}/").json()["pool"]["reserved"] == "0.200000"

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = farmer_api.post(
            f"/api/v1/claims/{claim['id']}/submission/", {"demonstration": demonstration()}, format="json"
        )
    assert response.status_code == 201, response.json()
    assert len(callbacks) >= 1  # scoring is enqueued only after the submission commits
    submission_id = response.json()["id"]

    # Eager tasks in unit tests: scored and settled once the commit callbacks ran.
    body = farmer_api.get(f"/api/v1/submissions/{submission_id}/").json()
    assert body["status"] in ("settled", "rejected"), body
    assert body["quality_score"] is not None
    pool = creator_api.get(f"/api/v1/factories/{factory_id}/").json()["pool"]
    assert pool["reserved"] == "0.000000"
    assert_audit_clean()

    audit = as_user(staff).get("/api/v1/ledger/audit/").json()
    assert audit["ok"] is True
    assert audit["tokens"]["USDC"]["deposited"] == "1.000000"
