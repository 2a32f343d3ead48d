"""Terms frozen at claim (issue 16): the claim records the task terms it was made under and the
agent grades the farmer's work against those, whatever the creator edits afterwards."""

from __future__ import annotations

import pytest

from pools.grading import TaskContext, grade
from pools.grading.checks import checks_from_json, checks_propose, checks_to_json
from pools.models import Claim, Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.factories import factory_update
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

FIRST = 'Create a spreadsheet named "Budget 2026" and fill the budget sheet.'
EDITED = 'Create a spreadsheet named "Invoices Q3" and fill the invoice sheet.'


def budget_demo() -> dict:
    demo = demonstration(minutes=6.0)
    steps = demo["steps"]
    steps.insert(2, {"t": steps[1]["t"] + 1, "action": "type", "target": "Spreadsheet name", "text": "Budget 2026"})
    demo["final_state"] = 'Spreadsheet "Budget 2026" saved; the budget sheet is filled.'
    return demo


def test_claim_stores_the_terms_it_was_made_under(creator):
    factory = funded_factory(creator, instructions=FIRST, expected_minutes=6, reward="0.2")
    claim = claim_create(factory=factory, farmer=FarmerFactory())
    claim.refresh_from_db()
    assert claim.terms == {
        "title": factory.title,
        "instructions": FIRST,
        "expected_minutes": 6,
        "reward": str(factory.reward),
        "checks": checks_to_json(checks_propose(factory.title, FIRST)),
        "requires_recording": False,
        "references": [],  # milestones of the reference demonstrations: none attached
    }
    assert any(check["value"] == "Budget 2026" for check in claim.terms["checks"])


def test_work_is_graded_against_the_claims_terms_not_the_edited_factory(creator):
    factory = funded_factory(creator, instructions=FIRST, expected_minutes=6, reward="0.2", deposit="2")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    # The creator changes the task while the claim is open.
    factory_update(factory=factory, actor=creator, instructions=EDITED, expected_minutes=60)
    demo = budget_demo()
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)
    process_batch(limit=100)
    submission.refresh_from_db()

    as_claimed = grade(demo, task=TaskContext(title=factory.title, instructions=FIRST, expected_minutes=6))
    as_edited = grade(demo, task=TaskContext(title=factory.title, instructions=EDITED, expected_minutes=60))
    assert as_claimed.score > as_edited.score  # the edit would have refused the work
    assert submission.quality_score == as_claimed.score
    assert submission.score_breakdown == as_claimed.breakdown
    assert not submission.needs_review
    assert submission.status == Submission.Status.SETTLED  # paid under the terms it was claimed on

    # A claim made after the edit is made under the new terms.
    later = claim_create(factory=factory, farmer=FarmerFactory())
    later.refresh_from_db()
    assert later.terms["instructions"] == EDITED
    assert later.terms["expected_minutes"] == 60


def test_factory_checks_are_frozen_on_the_claim(creator):
    checks = [{"kind": "typed", "value": "Budget 2026", "required": True, "origin": "creator"}]
    factory = funded_factory(creator, instructions=FIRST, expected_minutes=6, reward="0.2", deposit="2")
    factory.success_checks = checks
    factory.save(update_fields=["success_checks"])
    claim = claim_create(factory=factory, farmer=FarmerFactory())
    factory.success_checks = [{"kind": "typed", "value": "Invoices Q3"}]
    factory.save(update_fields=["success_checks"])
    assert Claim.objects.get(pk=claim.pk).terms["checks"] == checks_to_json(checks_from_json(checks))


def test_migration_backfills_open_claims_from_their_factory(creator):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("pools.migrations.0011_claim_terms_success_checks")
    factory = funded_factory(creator, instructions=FIRST, expected_minutes=6, reward="0.2", deposit="2")
    open_claim = claim_create(factory=factory, farmer=FarmerFactory())
    farmer = FarmerFactory()
    submitted = claim_create(factory=factory, farmer=farmer)
    submission_create(claim_id=submitted.pk, farmer=farmer, demonstration=budget_demo())
    Claim.objects.filter(pk__in=[open_claim.pk, submitted.pk]).update(terms={})  # as before 0011

    migration.backfill_terms(apps, SimpleNamespace(connection=connection))

    for claim in Claim.objects.filter(pk__in=[open_claim.pk, submitted.pk]):
        assert claim.terms["instructions"] == FIRST
        assert claim.terms["expected_minutes"] == 6
        assert claim.terms["reward"] == str(claim.reward)
        assert claim.terms["checks"] == checks_to_json(checks_propose(factory.title, FIRST))
