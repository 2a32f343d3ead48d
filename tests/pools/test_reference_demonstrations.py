"""Reference demonstrations (issue 16, point 4): a creator attaches recordings of the task done
well (API and factory form, validated: a 400 / form error naming the reference, nothing
stored); a claim freezes their milestones; the agent scores how far a farmer's steps reach
them in order, shown as the breakdown part `reference`."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from pools.demonstrations import demonstration_validate
from pools.grading import TaskContext, rules
from pools.grading.references import alignment, reference_milestones
from pools.models import Claim, Factory
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import FarmerFactory
from tests.money_helpers import funded_factory
from tests.pools.demonstrations import ending_now, recording

pytestmark = pytest.mark.django_db

INSTRUCTIONS = "Book the small meeting room for the team sync and send the invitation."


def booking(steps: list[dict]) -> dict:
    """The booking, recorded in 40 s just now."""
    return recording(steps, seconds=40, final_state="Room booked; invitation sent.", start=ending_now(40))


REFERENCE = booking(
    [
        {"t": 1.0, "action": "navigate", "url": "https://rooms.example.com/book"},
        {"t": 6.0, "action": "click", "target": 'option "Small room"'},
        {"t": 11.0, "action": "type", "target": "Meeting title", "text": "Team sync"},
        {"t": 17.0, "action": "click", "target": "Cell without a name"},
        {"t": 24.0, "action": "click", "target": 'button "Send invitation"'},
    ]
)
FOLLOWS = booking(
    [
        {"t": 2.0, "action": "navigate", "url": "https://www.rooms.example.com/book/"},
        {"t": 5.5, "action": "click", "target": 'option "Small room" .room-list'},
        {"t": 9.0, "action": "wait"},
        {"t": 13.0, "action": "type", "target": "Title", "text": "team  sync"},
        {"t": 21.0, "action": "click", "target": 'button "Send invitation" #send'},
    ]
)
ELSEWHERE = booking(
    [
        {"t": 2.0, "action": "navigate", "url": "https://mail.example.com/inbox"},
        {"t": 7.0, "action": "click", "target": 'link "Promotions"'},
        {"t": 12.0, "action": "type", "target": "Search", "text": "room booking"},
        {"t": 20.0, "action": "click", "target": 'button "Archive"'},
    ]
)


def test_milestones_are_what_the_steps_produced_or_named_in_order():
    assert reference_milestones(REFERENCE) == (
        "rooms.example.com/book",
        "small room",
        "team sync",
        "send invitation",
    )


def test_alignment_is_the_share_of_milestones_reached_in_order():
    milestones = (reference_milestones(REFERENCE),)
    steps = lambda demo: tuple(  # noqa: E731
        " ".join(str(step.get(field, "")) for field in ("target", "text", "url", "key")).lower()
        for step in demo["steps"]
        if step["action"] != "wait"
    )
    assert alignment(milestones, steps(FOLLOWS)) == (1.0, 4, 4)
    assert alignment(milestones, steps(ELSEWHERE)) == (0.0, 0, 4)
    reversed_steps = tuple(reversed(steps(FOLLOWS)))
    share, reached, _ = alignment(milestones, reversed_steps)
    assert reached == 1 and share == 0.25  # all there, but in the wrong order: one counts


def test_the_grade_shows_the_alignment_and_rewards_following_a_reference():
    task = TaskContext(title="Team sync room", instructions=INSTRUCTIONS, expected_minutes=2)
    with_refs = TaskContext(
        title="Team sync room",
        instructions=INSTRUCTIONS,
        expected_minutes=2,
        references=[reference_milestones(REFERENCE)],
    )

    plain = rules.grade(FOLLOWS, task=task)
    aligned = rules.grade(FOLLOWS, task=with_refs)
    astray = rules.grade(ELSEWHERE, task=with_refs)

    assert "reference" not in plain.breakdown
    assert aligned.breakdown["reference"]["score"] == "1.0000"
    assert aligned.breakdown["reference"]["metrics"]["milestones_reached"] == "4/4"
    assert aligned.score >= plain.score
    assert astray.breakdown["reference"]["score"] == "0.0000"
    assert astray.score < aligned.score
    assert astray.confidence < rules.grade(ELSEWHERE, task=task).confidence
    assert any("follow little of the reference" in reason for reason in astray.reasons)


def test_the_api_stores_validated_references_and_the_claim_freezes_their_milestones(as_user, creator):
    body = {
        "title": "Team sync room",
        "instructions": INSTRUCTIONS,
        "token": "USDC",
        "reward": "0.2",
        "reference_demonstrations": [REFERENCE],
    }
    response = as_user(creator).post("/api/v1/factories/", body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["reference_count"] == 1
    factory = Factory.objects.get(pk=response.json()["id"])
    assert factory.reference_demonstrations == [demonstration_validate(REFERENCE)]
    funded = funded_factory(creator, title="Funded room", instructions=INSTRUCTIONS)
    Factory.objects.filter(pk=funded.pk).update(reference_demonstrations=[REFERENCE])
    claim = claim_create(factory=Factory.objects.get(pk=funded.pk), farmer=FarmerFactory())
    Factory.objects.filter(pk=funded.pk).update(reference_demonstrations=[])  # edits: new claims only
    assert Claim.objects.get(pk=claim.pk).terms["references"] == [list(reference_milestones(REFERENCE))]


@pytest.mark.parametrize(
    "references, where",
    [
        ({"steps": []}, "A list of demonstrations"),
        ([REFERENCE] * 6, "At most 5"),
        (["not an object"], "Reference [0]"),
        ([REFERENCE, {**REFERENCE, "steps": [{"t": "soon", "action": "click"}]}], "Reference [1].steps[0]"),
    ],
)
def test_bad_references_are_a_400_naming_the_reference_and_store_nothing(as_user, creator, references, where):
    body = {"title": "Room", "instructions": INSTRUCTIONS, "token": "USDC", "reward": "0.2"}
    response = as_user(creator).post(
        "/api/v1/factories/", {**body, "reference_demonstrations": references}, format="json"
    )

    assert response.status_code == 400, response.json()
    assert "reference_demonstrations" in response.json() or "reference_demonstrations" in str(response.json())
    assert where in str(response.json())
    assert Factory.objects.count() == 0


def test_the_factory_form_attaches_references_and_refuses_bad_ones(creator):
    import json

    factory = funded_factory(creator, instructions=INSTRUCTIONS)
    client = Client()
    client.force_login(creator)
    url = reverse("pools:factory-edit", args=[factory.pk])
    fields = {
        "title": factory.title,
        "instructions": factory.instructions,
        "description": "",
        "category": "",
        "tags": "",
        "expected_minutes": 10,
        "claim_timeout_minutes": factory.claim_timeout_minutes,
        "min_reputation": "0",
        "success_checks": "",
    }
    assert 'name="reference_demonstrations"' in client.get(url).content.decode()

    bad = client.post(url, {**fields, "reference_demonstrations": '[{"steps": 3}]'})
    assert bad.status_code == 200
    assert "Reference [0]" in bad.content.decode()
    factory.refresh_from_db()
    assert factory.reference_demonstrations == []

    good = client.post(url, {**fields, "reference_demonstrations": json.dumps([REFERENCE])})
    assert good.status_code == 302
    factory.refresh_from_db()
    assert factory.reference_demonstrations == [demonstration_validate(REFERENCE)]


def test_a_submission_is_graded_against_the_claims_references(creator, settings):
    settings.FORGE_GRADER = "rules"
    factory = funded_factory(creator, reward="0.2", deposit="2", expected_minutes=2, instructions=INSTRUCTIONS)
    Factory.objects.filter(pk=factory.pk).update(reference_demonstrations=[REFERENCE])
    farmer = FarmerFactory()
    claim = claim_create(factory=Factory.objects.get(pk=factory.pk), farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=FOLLOWS)

    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.score_breakdown["reference"]["metrics"]["milestones_reached"] == "4/4"
