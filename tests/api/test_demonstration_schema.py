"""The published OpenAPI schema describes the demonstration object field by field (it used to
say `demonstration: {}`), with the validator's own limits and a worked example, and documents
the recording and resumable-upload endpoints."""

from __future__ import annotations

import pytest

from pools.demonstrations import ACTIONS, EXAMPLE_DEMONSTRATION, MAX_STEPS

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_setup, django_db_blocker):
    from rest_framework.test import APIClient

    with django_db_blocker.unblock():
        return APIClient().get("/api/schema/?format=json").json()


def component(schema, ref: str | dict) -> dict:
    """The component a $ref names (or a property pointing at one, bare or wrapped in allOf)."""
    if isinstance(ref, dict):
        ref = ref.get("$ref") or ref["allOf"][0]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def test_the_submission_body_names_the_demonstration_object(schema):
    body = schema["paths"]["/api/v1/claims/{id}/submission/"]["post"]["requestBody"]["content"]["application/json"]
    demonstration = component(schema, component(schema, body["schema"])["properties"]["demonstration"])

    assert set(demonstration["required"]) == {"started_at", "ended_at", "steps"}
    assert {"final_state", "notes", "task", "attachments", "format_version"} <= set(demonstration["properties"])
    steps = demonstration["properties"]["steps"]
    assert steps["minItems"] == 1 and steps["maxItems"] == MAX_STEPS
    step = component(schema, steps["items"])
    assert set(step["required"]) == {"t", "action"}
    assert component(schema, step["properties"]["action"])["enum"] == list(ACTIONS)
    assert step["properties"]["x"]["maximum"] == 100_000
    assert body["examples"]["ASpreadsheetNamedBudget2026"]["value"] == {"demonstration": EXAMPLE_DEMONSTRATION}


def test_the_recording_and_upload_endpoints_are_documented(schema):
    paths = schema["paths"]

    recording = paths["/api/v1/claims/{id}/recording/"]["post"]
    assert "multipart/form-data" in recording["requestBody"]["content"]
    assert "201" in recording["responses"]
    assert {"post"} <= set(paths["/api/v1/uploads/"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/uploads/{upload_id}/"])
    assert "application/offset+octet-stream" in paths["/api/v1/uploads/{upload_id}/"]["patch"]["requestBody"]["content"]
