"""POST /api/v1/claims/{id}/submission/ and GET /api/v1/submissions/{id}/: wiring,
permissions, refusals that write nothing, and the contract's fields."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from pools.models import Attachment, Claim, Submission
from pools.services.claims import claim_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.20", deposit="1")


@pytest.fixture
def claim(factory, farmer):
    return claim_create(factory=factory, farmer=farmer)


def submit(client, claim, body, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(f"/api/v1/claims/{claim.pk}/submission/", body, format="json")


def assert_nothing_written(claim):
    assert not Submission.objects.exists()
    assert not Attachment.objects.exists()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.OPEN
    assert_audit_clean()


def test_the_claiming_farmer_submits_and_gets_the_id_and_status(
    claim, farmer, as_user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = as_user(farmer).post(
            f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
        )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "submitted"
    assert Submission.objects.get(pk=body["id"]).claim_id == claim.pk
    assert len(callbacks) == 1  # scoring is enqueued after commit, not before
    claim.refresh_from_db()
    assert claim.status == Claim.Status.SUBMITTED


def test_another_farmers_claim_is_not_found(claim, as_user, django_capture_on_commit_callbacks):
    response = submit(
        as_user(FarmerFactory()), claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks
    )

    assert response.status_code == 404
    assert_nothing_written(claim)


def test_a_creator_cannot_submit(claim, creator, as_user, django_capture_on_commit_callbacks):
    response = submit(as_user(creator), claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)

    assert response.status_code == 403
    assert_nothing_written(claim)


def test_submitting_needs_credentials(claim, api):
    response = api.post(f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json")

    assert response.status_code == 401
    assert_nothing_written(claim)


def test_a_second_submission_for_the_same_claim_is_a_conflict(
    claim, farmer, as_user, django_capture_on_commit_callbacks
):
    client = as_user(farmer)
    assert (
        submit(client, claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks).status_code == 201
    )

    response = submit(client, claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)

    assert response.status_code == 409
    assert Submission.objects.count() == 1


def test_an_expired_claim_takes_no_submission(claim, farmer, as_user, django_capture_on_commit_callbacks):
    Claim.objects.filter(pk=claim.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    response = submit(as_user(farmer), claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)

    assert response.status_code == 409
    assert not Submission.objects.exists()


def _out_of_order_with_a_bad_attachment() -> dict:
    bad = demonstration()
    bad["steps"][3]["t"] = 0.5  # before step 2
    bad["steps"][4]["action"] = "teleport"
    bad["attachments"] = [{"name": "screen.mp4", "content_type": "video/mp4", "size": 10, "sha256": "nothex"}]
    return bad


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"demonstration": _out_of_order_with_a_bad_attachment()}, {"steps[3].t", "steps[4].action"}),
        ({"demonstration": {"steps": []}}, {"started_at", "ended_at", "steps"}),
        ({"demonstration": "not an object"}, {"demonstration"}),
        ({"demonstration": {**demonstration(), "ended_at": "2020-01-01T00:00:00Z"}}, {"ended_at"}),
        ({}, {"demonstration"}),
    ],
)
def test_a_malformed_demonstration_is_refused_with_field_errors_and_nothing_written(
    body, fields, claim, farmer, as_user, django_capture_on_commit_callbacks
):
    response = submit(as_user(farmer), claim, body, django_capture_on_commit_callbacks)

    assert response.status_code == 400
    errors = response.json()
    assert fields <= set(errors), errors
    assert all(isinstance(messages, list) and messages for messages in errors.values())
    assert_nothing_written(claim)


def test_malformed_json_is_a_400(claim, farmer, as_user):
    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", '{"demonstration": {', content_type="application/json"
    )

    assert response.status_code == 400
    assert "detail" in response.json()
    assert_nothing_written(claim)


def _padded_body(size: int) -> str:
    body = {"demonstration": {**demonstration(), "notes": ""}}
    padding = size - len(json.dumps(body))
    body["demonstration"]["notes"] = "x" * max(padding, 0)
    return json.dumps(body)


def test_a_body_over_the_demonstration_limit_is_a_clear_400(settings, claim, farmer, as_user):
    settings.FORGE_DEMONSTRATION_MAX_BYTES = 5_000

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", _padded_body(6_000), content_type="application/json"
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "5000" in response.json()["demonstration"][0]
    assert_nothing_written(claim)


def test_a_body_over_djangos_upload_limit_is_a_json_400_not_an_html_page(settings, claim, farmer, as_user):
    settings.FORGE_DEMONSTRATION_MAX_BYTES = 50_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 5_000

    response = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", _padded_body(6_000), content_type="application/json"
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "5000" in response.json()["demonstration"][0]
    assert_nothing_written(claim)


def test_a_body_just_under_the_limits_is_accepted(settings, claim, farmer, as_user, django_capture_on_commit_callbacks):
    settings.FORGE_DEMONSTRATION_MAX_BYTES = 6_000
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 6_000

    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(farmer).post(
            f"/api/v1/claims/{claim.pk}/submission/", _padded_body(6_000), content_type="application/json"
        )

    assert response.status_code == 201, response.json()


@pytest.fixture
def settled(claim, farmer, as_user, django_capture_on_commit_callbacks):
    response = submit(as_user(farmer), claim, {"demonstration": demonstration()}, django_capture_on_commit_callbacks)
    assert response.status_code == 201
    return Submission.objects.get(pk=response.json()["id"])


@pytest.mark.parametrize("who", ["farmer", "creator", "staff"])
def test_the_farmer_the_factorys_creator_and_staff_see_a_submission(request, who, settled, as_user):
    response = as_user(request.getfixturevalue(who)).get(f"/api/v1/submissions/{settled.pk}/")

    assert response.status_code == 200
    assert response.json()["id"] == settled.pk


@pytest.mark.parametrize("stranger", [FarmerFactory, CreatorFactory])
def test_strangers_do_not_see_a_submission(stranger, settled, as_user):
    response = as_user(stranger()).get(f"/api/v1/submissions/{settled.pk}/")

    assert response.status_code == 404


def test_reading_a_submission_needs_credentials(settled, api):
    assert api.get(f"/api/v1/submissions/{settled.pk}/").status_code == 401


def test_a_settled_submission_shows_the_contracts_fields_as_exact_strings(settled, factory, farmer, as_user):
    settled.refresh_from_db()
    assert settled.is_final  # scored and settled by the eager tasks after commit

    body = as_user(farmer).get(f"/api/v1/submissions/{settled.pk}/").json()

    contract = {"id", "factory", "status", "quality_score", "gross_payout", "farmer_reward", "platform_fee"}
    contract |= {"refunded_to_pool", "token", "score_breakdown"}
    assert contract <= set(body)
    assert body["factory"] == factory.pk
    assert body["token"] == "USDC"
    assert body["status"] == settled.status
    assert body["quality_score"] == f"{settled.quality_score:.4f}"
    assert body["gross_payout"] == f"{settled.gross_payout / 10**6:.6f}"
    assert body["farmer_reward"] == f"{settled.farmer_reward / 10**6:.6f}"
    assert body["platform_fee"] == f"{settled.platform_fee / 10**6:.6f}"
    assert body["refunded_to_pool"] == f"{settled.refunded_to_pool / 10**6:.6f}"
    # Money adds up in the response too: G + back = R.
    assert settled.gross_payout + settled.refunded_to_pool == 200_000
    assert isinstance(body["score_breakdown"], dict) and body["score_breakdown"]


def test_an_unsettled_submission_shows_no_amounts_yet(claim, farmer, as_user):
    with_no_commit_callbacks = as_user(farmer).post(
        f"/api/v1/claims/{claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )
    body = as_user(farmer).get(f"/api/v1/submissions/{with_no_commit_callbacks.json()['id']}/").json()

    assert body["status"] == "submitted"
    assert body["quality_score"] is None
    assert body["gross_payout"] is None and body["farmer_reward"] is None
