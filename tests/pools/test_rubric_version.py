"""Every agent score records the agent version that gave it (issue 16, point 7): the submission
stores GradeResult.rubric_version next to the grader's name; the admin and the creator's
demonstration page show them; a reviewer's score carries none."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from pools.grading import rules
from pools.models import Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.submissions import submission_create, submission_review
from tests.factories import FarmerFactory, StaffFactory, demonstration
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


def scored(creator) -> Submission:
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=6)
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    process_batch(limit=100)
    submission.refresh_from_db()
    return submission


def test_the_agent_version_is_stored_with_the_score(creator):
    submission = scored(creator)
    assert submission.quality_score is not None
    assert submission.graded_by == "rules"
    assert submission.rubric_version == rules.RUBRIC_VERSION
    assert submission.score_breakdown["gate"]["agent"]["rubric_version"] == str(rules.RUBRIC_VERSION)


def test_admin_and_demonstration_page_show_the_version(creator):
    submission = scored(creator)
    admin = Client()
    admin.force_login(StaffFactory())
    page = admin.get(reverse("admin:pools_submission_change", args=[submission.pk]))
    assert page.status_code == 200
    assert "Rubric version" in page.content.decode()
    owner = Client()
    owner.force_login(creator)
    page = owner.get(reverse("pools:factory-demonstration", args=[submission.factory_id, submission.pk]))
    assert page.status_code == 200
    assert f"Graded by the rules agent, rubric version {rules.RUBRIC_VERSION}." in page.content.decode()


def test_a_reviewers_score_carries_no_agent_version(creator):
    submission = scored(creator)
    assert submission.status == Submission.Status.SETTLED
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.5", reason="checked")
    submission.refresh_from_db()
    assert submission.quality_score == Decimal("0.5")
    assert submission.graded_by == "manual"
    assert submission.rubric_version is None
