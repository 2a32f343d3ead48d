"""Text PostgreSQL cannot store (a NUL character, a lone UTF-16 surrogate) is a 400 naming the
field, on the API and the claim page, and nothing is stored.

JSON may spell both (`"\\u0000"`, `"\\ud800"`) and Python's json module decodes them, but
PostgreSQL's JSONB refuses `\\u0000` and UTF-8 has no encoding for a lone surrogate: before the
demonstration validator refused them, each was a 500 after validation had passed."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.factories import demonstration
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.django_db

NUL = "\\u0000"  # as spelled in the JSON text
SURROGATE = "\\ud800"


@pytest.fixture
def claim(creator, farmer):
    return claim_create(factory=funded_factory(creator, reward="0.2", deposit="10"), farmer=farmer)


def _with(path: str, bad: str) -> str:
    """A valid demonstration as JSON text, with `bad` (a JSON escape) put at `path`."""
    demo = demonstration()
    marker = "@@BAD@@"
    if path == "notes":
        demo["notes"] = f"fine {marker}"
    elif path == "steps[2].target":
        demo["steps"][2]["target"] = marker
    elif path == "task.app":
        demo["task"] = {"app": f"Sheets{marker}"}
    elif path == "recorder.build":
        demo["recorder"] = {"build": [1, {"x": marker}]}
    elif path == "steps[0]":  # in a key
        demo["steps"][0][f"extra{marker}"] = 1
    elif path == "steps[1]":  # in a key, with bad text under it too
        demo["steps"][1][f"k{marker}"] = {"v": marker}
    elif path == "final_state":
        demo["final_state"] = marker + "rest"
    return json.dumps(demo).replace(marker, bad)


CASES = [
    ("notes", NUL, "notes"),
    ("steps[2].target", NUL, "steps[2].target"),
    ("task.app", SURROGATE, "task.app"),
    ("recorder.build", NUL, "recorder.build[1].x"),
    ("steps[0]", SURROGATE, "steps[0]"),
    ("steps[1]", SURROGATE, "steps[1]"),
    ("final_state", "\\udfff", "final_state"),
]


@pytest.mark.parametrize("path, bad, reported", CASES, ids=[f"{p}-{b}" for p, b, _ in CASES])
def test_the_submit_api_refuses_unstorable_text_naming_the_field(path, bad, reported, claim, farmer, as_user):
    body = '{"demonstration": ' + _with(path, bad) + "}"

    response = as_user(farmer).generic("POST", f"/api/v1/claims/{claim.pk}/submission/", body, "application/json")

    assert response.status_code == 400, response.content
    assert reported in response.json(), response.json()
    message = " ".join(response.json()[reported])
    assert "NUL" in message or "surrogate" in message
    assert Submission.objects.count() == 0
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN
    assert_audit_clean()


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_the_claim_page_refuses_unstorable_text_with_a_form_error(bad, claim, farmer):
    client = Client()
    client.force_login(farmer)

    response = client.post(f"/farm/claims/{claim.pk}/", {"demonstration": _with("notes", bad)})

    assert response.status_code == 400
    assert "notes: " in response.content.decode()
    assert Submission.objects.count() == 0
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN


def test_an_uploaded_recording_with_unstorable_text_is_a_form_error(claim, farmer):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = Client()
    client.force_login(farmer)
    upload = SimpleUploadedFile("demo.json", _with("steps[2].target", NUL).encode(), "application/json")

    response = client.post(f"/farm/claims/{claim.pk}/", {"recording": upload})

    assert response.status_code == 400
    assert "steps[2].target: " in response.content.decode()
    assert Submission.objects.count() == 0


def test_escaped_text_that_is_storable_is_accepted(claim, farmer, as_user):
    """A surrogate *pair* is one ordinary character (an emoji), and a backslash-u in text is
    just text: neither is refused."""
    demo = demonstration()
    body = (
        '{"demonstration": ' + json.dumps(demo).replace('"notes": ""', '"notes": "ok \\ud83d\\ude00 \\\\u0000"') + "}"
    )

    response = as_user(farmer).generic("POST", f"/api/v1/claims/{claim.pk}/submission/", body, "application/json")

    assert response.status_code == 201, response.content
    assert Submission.objects.get().demonstration["notes"] == "ok \U0001f600 \\u0000"


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "surrogate"])
def test_other_text_inputs_of_the_api_refuse_unstorable_text(bad, creator, as_user, api):
    """Titles, instructions, usernames, references: DRF's CharField refuses both (kept so a
    field changed to another type is noticed)."""
    from accounts.models import User
    from pools.models import Factory

    body = {"title": f"t{bad}", "instructions": f"i{bad}", "token": "USDC", "reward": "0.1"}
    response = as_user(creator).generic(
        "POST", "/api/v1/factories/", json.dumps(body, ensure_ascii=True), "application/json"
    )
    assert response.status_code == 400
    assert {"title", "instructions"} <= set(response.json())

    body = {"username": f"eve{bad}", "password": "a long enough password", "role": "farmer"}
    response = api.generic("POST", "/api/v1/auth/register/", json.dumps(body, ensure_ascii=True), "application/json")
    assert response.status_code == 400
    assert "username" in response.json()
    assert Factory.objects.count() == 0
    assert not User.objects.filter(username__startswith="eve").exists()
