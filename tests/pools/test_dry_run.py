"""A dry-run score before submitting: graded against the terms the real grade would use,
anti-cheat signals withheld, nothing stored, rate-limited (the API and the claim page share
one budget; the throttle fails open when Redis is down)."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.throttling import ScopedRateThrottle

from pools.grading import TaskContext
from pools.grading import rules as rules_grader
from pools.grading.checks import checks_from_json
from pools.models import Claim, FarmerListEntry
from pools.services.claims import claim_create, claim_terms
from pools.services.factories import factory_update
from tests.factories import demonstration
from tests.money_helpers import funded_factory
from tests.security.world import money_state

pytestmark = pytest.mark.django_db

INSTRUCTIONS = "Create a spreadsheet named Budget and fill the sheet."
ANSWER_KEYS = {
    "estimated_score",
    "quality_threshold",
    "would_pass_threshold",
    "graded_against",
    "parts",
    "checks",
    "reasons",
}


def _dry_run(as_user, farmer, factory, demo):
    return as_user(farmer).post(f"/api/v1/factories/{factory.pk}/dry-run/", {"demonstration": demo}, format="json")


def _echoed() -> dict:
    """A demonstration that pastes the task's instructions into its final state: the rubric's
    `instructions_echoed` integrity feature fires."""
    demo = demonstration()
    return {**demo, "final_state": f"{INSTRUCTIONS} {demo['final_state']}"}


def test_dry_run_answers_a_score_and_the_checks_and_stores_nothing(creator, farmer, as_user):
    factory = funded_factory(creator, instructions=INSTRUCTIONS)
    as_user(farmer)  # its API token, made before the snapshot
    before = money_state()

    response = _dry_run(as_user, farmer, factory, demonstration())

    assert response.status_code == 200, response.json()
    answer = response.json()
    assert set(answer) == ANSWER_KEYS
    assert answer["graded_against"] == "factory"
    assert answer["checks"] and {"check", "required", "passed", "near_miss"} == set(answer["checks"][0])
    assert 0 < float(answer["estimated_score"]) <= 1
    assert money_state() == before  # no claim, submission, ledger row or anything else


def test_dry_run_withholds_the_anti_cheat_signals(creator, farmer, as_user):
    factory = funded_factory(creator, instructions=INSTRUCTIONS)
    terms = claim_terms(factory)
    real = rules_grader.grade(
        _echoed(),
        task=TaskContext(
            title=terms["title"],
            instructions=terms["instructions"],
            expected_minutes=terms["expected_minutes"],
            checks=checks_from_json(terms["checks"]),
        ),
    )
    flag_text = real.breakdown["gate"]["flags"]["instructions_echoed"]  # the real grade sees it

    answer = _dry_run(as_user, farmer, factory, _echoed()).json()

    text = str(answer)
    assert flag_text not in text and "instructions_echoed" not in text
    assert "confidence" not in text and "flags" not in text
    assert float(answer["estimated_score"]) > float(real.score)  # the integrity gate is not applied


def test_dry_run_with_an_open_claim_uses_its_frozen_terms(creator, farmer, as_user):
    factory = funded_factory(creator, instructions=INSTRUCTIONS)
    claim_create(factory=factory, farmer=farmer)
    factory_update(
        factory=factory,
        actor=creator,
        success_checks=[{"kind": "typed", "value": "Quarterly forecast 2031", "required": True}],
    )

    answer = _dry_run(as_user, farmer, factory, demonstration()).json()

    assert answer["graded_against"] == "claim"
    assert not any("Quarterly forecast" in check["check"] for check in answer["checks"])


@pytest.mark.parametrize("demo", [{"steps": "nope"}, [], "text", {"steps": []}])
def test_a_bad_demonstration_is_a_400_that_stores_nothing(creator, farmer, as_user, demo):
    factory = funded_factory(creator)
    as_user(farmer)
    before = money_state()
    response = _dry_run(as_user, farmer, factory, demo)
    assert response.status_code == 400
    assert money_state() == before


def test_hidden_factories_and_other_roles_are_refused(creator, farmer, as_user):
    factory = funded_factory(creator)
    FarmerListEntry.objects.create(creator=creator, farmer=farmer, kind="block")
    assert _dry_run(as_user, farmer, factory, demonstration()).status_code == 404
    assert _dry_run(as_user, creator, factory, demonstration()).status_code == 403


@pytest.fixture
def two_an_hour(monkeypatch):
    monkeypatch.setattr(
        ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, "dry_run": "2/hour"}
    )


def test_dry_runs_are_rate_limited_across_the_api_and_the_claim_page(creator, farmer, as_user, two_an_hour):
    factory = funded_factory(creator)
    claim = claim_create(factory=factory, farmer=farmer)
    import json

    page = Client()
    page.force_login(farmer)
    body = {"demonstration": json.dumps(demonstration()), "dry_run": "1"}

    assert _dry_run(as_user, farmer, factory, demonstration()).status_code == 200
    first = page.post(f"/farm/claims/{claim.pk}/", body)
    assert first.status_code == 200 and 'id="dry-run-result"' in first.content.decode()
    assert _dry_run(as_user, farmer, factory, demonstration()).status_code == 429
    refused = page.post(f"/farm/claims/{claim.pk}/", body)
    assert refused.status_code == 429 and "Too many dry runs" in refused.content.decode()
    claim.refresh_from_db()
    assert claim.status == Claim.Status.OPEN  # nothing was submitted


def test_the_dry_run_fails_open_when_redis_is_down(creator, farmer, as_user, settings, two_an_hour, caplog):
    from tests.security.test_redis_down import UNREACHABLE_BROKER_URL

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": UNREACHABLE_BROKER_URL}
    }
    factory = funded_factory(creator)
    answers = [_dry_run(as_user, farmer, factory, demonstration()).status_code for _ in range(3)]
    assert answers == [200, 200, 200]  # over the 2/hour rate: the throttle could not count
    assert "throttle 'dry_run' skipped: the cache is unreachable" in caplog.text
