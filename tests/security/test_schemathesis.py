"""Property-based API testing with schemathesis, against the schema the app publishes at
/api/schema/: for every operation, as a farmer (with claims and a settled submission), a
creator with funded factories, and staff, generated requests (valid and invalid) never get a
server error, and every documented response matches its schema.

Path parameters are either generated or the ids of real objects of the world (tests/security/
world.py), so requests reach the code behind the permission checks. Everything runs in-process
through Django's WSGI handler, inside the test's transaction (rolled back after each test).
Bounded: MAX_EXAMPLES per operation and role, derandomized so CI runs are reproducible.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from accounts.services import api_token_for
from tests.security.world import world_build, world_upload

pytestmark = pytest.mark.django_db

# tus PATCH bodies (evidence/apis.py) are raw bytes, like application/octet-stream.
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

SCHEMA_PATH = "/api/schema/?format=json"
MAX_EXAMPLES = 12
ROLES = ("farmer", "creator", "staff")
CHECKS = [not_a_server_error, response_schema_conformance]


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation, from the same generator that serves /api/schema/."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    methods = {"get", "post", "put", "patch", "delete"}
    return [(method.upper(), path) for path, item in paths.items() for method in item if method in methods]


OPERATIONS = _operations()


@pytest.fixture(scope="module")
def keep_test_connection():
    """Django's WSGI handler closes "old" connections at each request's start and end; in a
    test that would close the connection holding the test's transaction (Django's own test
    client disconnects the same receiver)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory, keep_test_connection):
    from tests.conftest import _ensure_reference_data

    with (
        django_db_blocker.unblock(),
        override_settings(MEDIA_ROOT=tmp_path_factory.mktemp("media")),
        transaction.atomic(),
    ):
        _ensure_reference_data()
        yield world_build()
        transaction.set_rollback(True)


@pytest.fixture(scope="module")
def api_schema(world):
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi(SCHEMA_PATH, get_wsgi_application())


def real_path_parameters(path: str, world) -> list[dict]:
    """Ids of existing objects for the operation's path parameters (in the path's order)."""
    factories = [world.factory.pk, world.paused.pk, world.other_factory.pk]
    attachments = [world.attachment.pk, world.pending_attachment.pk]
    choices = [
        (r"^/api/v1/factories/\{\w+\}", [(pk,) for pk in factories]),
        (r"^/api/v1/deposits/\{\w+\}", [(world.pending_deposit.pk,)]),
        (r"^/api/v1/claims/\{\w+\}", [(world.claim.pk,), (world.other_claim.pk,)]),
        (r"^/api/v1/submissions/\{\w+\}/attachments/", [(world.submission.pk, pk) for pk in attachments]),
        (r"^/api/v1/submissions/\{\w+\}/appeal/", [(world.refused.pk,), (world.appealed.pk,)]),
        (r"^/api/v1/submissions/\{\w+\}", [(world.submission.pk,)]),
        (r"^/api/v1/appeals/\{\w+\}", [(world.appeal.pk,)]),
        (r"^/api/v1/webhooks/\{\w+\}", [(world.webhook.pk,)]),
        (r"^/api/v1/exports/\{\w+\}", [(world.export.pk,)]),
        (r"^/api/v1/ambassadors/\{\w+\}", [(world.ambassador.code,)]),
        (r"^/api/v1/wallets/\{\w+\}", [(world.wallet.pk,)]),
        (r"^/api/v1/receipts/hours/\{\w+\}", [(world.receipt_batch.pk,)]),
        (r"^/api/v1/receipts/\{\w+\}", [(world.submission.pk,)]),
        (r"^/api/v1/uploads/\{\w+\}", [(str(world_upload(world).pk),)]),
    ]
    names = re.findall(r"\{(\w+)\}", path)
    for pattern, rows in choices:
        if re.match(pattern, path):
            return [dict(zip(names, row, strict=True)) for row in rows]
    assert not names, f"no real objects for the path parameters of {path}: add them above"
    return []


def case_strategy(operation, path: str, world):
    """Generated cases, valid and invalid, half of them aimed at real objects."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    strategies = [operation.as_strategy(generation_mode=mode) for mode in modes]
    for values in real_path_parameters(path, world):
        strategies += [operation.as_strategy(generation_mode=mode, path_parameters=values) for mode in modes]
    return st.one_of(strategies)


def valid_bodies(method: str, path: str, world, role: str) -> list:
    """Requests a client that knows the API would send: their successes are checked against the
    documented response schemas too (generated bodies rarely pass validation)."""
    from tests.factories import demonstration
    from tests.security.world import LATER_PNG, PASSWORD

    user = world.users[role]
    bodies = {
        ("POST", "/api/v1/auth/register/"): {
            "username": f"st-{role}",
            "password": "a-long-unusual-passphrase-93",
            "role": "farmer",
        },
        ("POST", "/api/v1/auth/token/"): {"username": user.username, "password": PASSWORD},
        ("POST", "/api/v1/factories/"): {
            "title": "Label photos",
            "instructions": "Label each photo.",
            "token": "USDC",
            "reward": "0.25",
            "target_count": 10,
        },
        ("POST", "/api/v1/factories/{id}/deposits/"): {"amount": "1.5", "tx_ref": f"sig-st-{role}"},
        ("POST", "/api/v1/factories/{id}/rate/"): {"reward": "0.3"},
        ("POST", "/api/v1/factories/{id}/exports/"): {"min_quality": "0.5", "include_attachments": True},
        ("POST", "/api/v1/claims/{id}/submission/"): {"demonstration": demonstration()},
        ("POST", "/api/v1/submissions/{id}/review/"): {"quality_score": "0.7", "reason": "checked"},
        ("PATCH", "/api/v1/ambassadors/{code}/"): {"tier": 2},
        ("PUT", "/api/v1/submissions/{id}/attachments/{attachment_id}/"): LATER_PNG,
    }
    if (method, path) not in bodies:
        return []
    return [bodies[(method, path)]]


def explicit_cases(operation, method: str, path: str, world, role: str):
    """Every real object, with the valid body if there is one (or none)."""
    for values in real_path_parameters(path, world) or [{}]:
        for body in valid_bodies(method, path, world, role) or [None]:
            if body is None:
                yield operation.Case(path_parameters=values)
            else:
                media_type = "application/octet-stream" if isinstance(body, bytes) else "application/json"
                yield operation.Case(path_parameters=values, body=body, media_type=media_type)


def test_every_operation_is_exercised():
    assert len(OPERATIONS) >= 30
    assert ("POST", "/api/v1/claims/{id}/submission/") in OPERATIONS


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_the_api_never_fails_and_answers_as_documented(api_schema, world, role, method, path):
    user = world.users[role]
    operation = api_schema[path][method]

    def check(case):
        cache.clear()  # throttles: each request is judged on its own
        # A fresh token each time (a request may have rotated or revoked the last one).
        response = case.call(headers={"Authorization": f"Token {api_token_for(user)}"})
        case.validate_response(response, checks=CHECKS)

    for case in explicit_cases(operation, method, path, world, role):
        with transaction.atomic():  # each one meets the world as it was built
            check(case)
            transaction.set_rollback(True)

    fuzz = settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(given(case=case_strategy(operation, path, world))(check))
    fuzz()


def test_the_checks_catch_a_response_that_breaks_its_schema_and_a_server_error(api_schema, world, monkeypatch):
    """The run above can fail: a wrong field type and an exception are both reported."""
    from rest_framework.response import Response

    from web.apis import MeApi

    operation = api_schema["/api/v1/me/"]["GET"]
    headers = {"Authorization": f"Token {api_token_for(world.users['farmer'])}"}

    monkeypatch.setattr(MeApi, "get", lambda self, request: Response({"id": "not a number"}))
    case = operation.Case()
    with pytest.raises(BaseException) as schema_failure:  # a FailureGroup
        case.validate_response(case.call(headers=headers), checks=CHECKS)
    assert "is a required property" in _report(schema_failure.value)

    def broken(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(MeApi, "get", broken)
    with pytest.raises(BaseException) as server_error:
        case.validate_response(case.call(headers=headers), checks=CHECKS)
    assert "ST101 Server error" in _report(server_error.value)


def _report(error: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(error))
