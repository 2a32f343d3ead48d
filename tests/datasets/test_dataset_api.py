"""GET /api/v1/factories/{id}/demonstrations/: the factory's dataset for its owner and staff.
Accepted work only (settled at or above the threshold, unflagged) unless rejected or flagged
work is asked for explicitly; filters by score, date and farmer reputation; 400 on a filter
that cannot be read; 404 for anyone else."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from farmers.models import FarmerProfile
from pools.models import Submission
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import flagged_held, flagged_settled, settled, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def manual(settings):
    settings.FORGE_GRADER = "manual"


@pytest.fixture
def factory(creator):
    return funded_factory(creator, reward="0.2", deposit="10")


@pytest.fixture
def mixed(factory, settings, django_capture_on_commit_callbacks):
    """One submission in every state the dataset must tell apart."""
    capture = django_capture_on_commit_callbacks
    settings.FORGE_GRADER = "rules"
    flagged_paid = flagged_settled(factory, capture=capture)
    held = flagged_held(factory, capture=capture)
    settings.FORGE_GRADER = "manual"
    return {
        "accepted": settled(factory, score="0.9", capture=capture),
        "accepted_low": settled(factory, score="0.55", capture=capture),
        "rejected": settled(factory, score="0.2", capture=capture),
        "flagged_settled": flagged_paid,
        "held": held,
        "waiting": submit(factory, capture=capture),
    }


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def url(factory, query: str = "") -> str:
    return f"/api/v1/factories/{factory.pk}/demonstrations/" + (f"?{query}" if query else "")


def test_the_dataset_holds_accepted_unflagged_demonstrations_only(factory, mixed, creator, as_user):
    assert mixed["rejected"].status == Submission.Status.REJECTED
    assert mixed["waiting"].status == Submission.Status.SUBMITTED

    response = as_user(creator).get(url(factory))

    assert ids(response) == {mixed["accepted"].pk, mixed["accepted_low"].pk}
    assert response.json()["count"] == 2


def test_rejected_work_enters_only_when_included(factory, mixed, creator, as_user):
    found = ids(as_user(creator).get(url(factory, "include=rejected")))

    assert found == {mixed["accepted"].pk, mixed["accepted_low"].pk, mixed["rejected"].pk}


def test_flagged_work_enters_only_when_included(factory, mixed, creator, as_user):
    client = as_user(creator)

    both = ids(client.get(url(factory, "include=flagged")))
    flagged_only = ids(client.get(url(factory, "include=flagged&flagged=true")))
    unflagged_only = ids(client.get(url(factory, "include=flagged&flagged=false")))
    everything = ids(client.get(url(factory, "include=flagged,rejected")))

    accepted = {mixed["accepted"].pk, mixed["accepted_low"].pk}
    flagged = {mixed["flagged_settled"].pk, mixed["held"].pk}
    assert both == accepted | flagged
    assert flagged_only == flagged
    assert unflagged_only == accepted
    assert everything == accepted | flagged | {mixed["rejected"].pk}
    assert mixed["waiting"].pk not in everything  # not scored yet: in no list


def test_asking_for_flagged_work_without_including_it_is_a_400(factory, mixed, creator, as_user):
    response = as_user(creator).get(url(factory, "flagged=true"))

    assert response.status_code == 400
    assert "include=flagged" in response.json()["flagged"][0]


def test_rows_follow_the_contract_with_a_pseudonym_for_the_farmer(factory, mixed, creator, as_user):
    response = as_user(creator).get(url(factory))
    row = next(r for r in response.json()["results"] if r["id"] == mixed["accepted"].pk)

    assert set(response.json()) == {"count", "next", "previous", "results"}
    assert {"id", "quality_score", "score_breakdown", "farmer", "submitted_at", "demonstration"} <= set(row)
    assert row["quality_score"] == "0.9000"
    assert row["farmer"].startswith("farmer-")
    assert mixed["accepted"].farmer.username not in response.content.decode()
    assert row["demonstration"]["steps"] == mixed["accepted"].demonstration["steps"]
    assert row["flagged"] is False


def test_quality_filters_bound_the_scores(factory, mixed, creator, as_user):
    client = as_user(creator)

    assert ids(client.get(url(factory, "min_quality=0.6"))) == {mixed["accepted"].pk}
    assert ids(client.get(url(factory, "max_quality=0.6"))) == {mixed["accepted_low"].pk}
    assert ids(client.get(url(factory, "min_quality=0.55&max_quality=0.55"))) == {mixed["accepted_low"].pk}
    assert ids(client.get(url(factory, "max_quality=0.3&include=rejected"))) == {mixed["rejected"].pk}


@pytest.mark.parametrize(
    "query, field",
    [
        ("min_quality=abc", "min_quality"),
        ("max_quality=1.5", "max_quality"),
        ("min_quality=-0.1", "min_quality"),
        ("min_quality=NaN", "min_quality"),
        ("min_quality=0.8&max_quality=0.2", "max_quality"),
        ("submitted_from=yesterday", "submitted_from"),
        ("min_reputation=101", "min_reputation"),
        ("flagged=maybe", "flagged"),
        ("include=everything", "include"),
    ],
)
def test_a_filter_that_cannot_be_read_is_a_400_naming_it(factory, creator, as_user, query, field):
    response = as_user(creator).get(url(factory, query))

    assert response.status_code == 400
    assert field in response.json()


def test_the_date_range_filters_on_submission_time(
    factory, manual, creator, as_user, django_capture_on_commit_callbacks
):
    old = settled(factory, capture=django_capture_on_commit_callbacks)
    new = settled(factory, capture=django_capture_on_commit_callbacks)
    Submission.objects.filter(pk=old.pk).update(submitted_at=timezone.now() - timedelta(days=10))
    client = as_user(creator)
    five_days_ago = (timezone.now() - timedelta(days=5)).date().isoformat()

    assert ids(client.get(url(factory, f"submitted_from={five_days_ago}"))) == {new.pk}
    assert ids(client.get(url(factory, f"submitted_to={five_days_ago}"))) == {old.pk}
    today = timezone.now().date().isoformat()
    assert ids(client.get(url(factory, f"submitted_to={today}"))) == {old.pk, new.pk}  # a date covers its day


def test_the_reputation_range_filters_on_the_farmers_current_reputation(
    factory, manual, creator, as_user, django_capture_on_commit_callbacks
):
    expert, newcomer = FarmerFactory(), FarmerFactory()
    by_expert = settled(factory, expert, capture=django_capture_on_commit_callbacks)
    by_newcomer = settled(factory, newcomer, capture=django_capture_on_commit_callbacks)
    FarmerProfile.objects.update_or_create(user=expert, defaults={"reputation": Decimal("82.5")})
    FarmerProfile.objects.filter(user=newcomer).delete()  # no profile yet: the newcomer's 50
    client = as_user(creator)

    assert ids(client.get(url(factory, "min_reputation=80"))) == {by_expert.pk}
    assert ids(client.get(url(factory, "max_reputation=50"))) == {by_newcomer.pk}
    assert ids(client.get(url(factory, "min_reputation=40&max_reputation=90"))) == {by_expert.pk, by_newcomer.pk}


def test_the_list_is_paginated(factory, manual, creator, as_user, django_capture_on_commit_callbacks):
    for _ in range(3):
        settled(factory, capture=django_capture_on_commit_callbacks)

    page = as_user(creator).get(url(factory, "page_size=2")).json()

    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


@pytest.mark.parametrize("who", ["another_creator", "farmer", "grader_or_404"])
def test_only_the_owner_and_staff_see_a_dataset(factory, mixed, who, farmer, grader, as_user):
    user = {"another_creator": CreatorFactory(), "farmer": mixed["accepted"].farmer, "grader_or_404": grader}[who]

    response = as_user(user).get(url(factory))

    # Strangers learn nothing: the factory does not exist for them (the grading service's
    # account is refused outright by the default permissions).
    assert response.status_code in ((403,) if who == "grader_or_404" else (404,))


def test_staff_see_any_dataset(factory, mixed, staff, as_user):
    assert ids(as_user(staff).get(url(factory))) == {mixed["accepted"].pk, mixed["accepted_low"].pk}


def test_the_dataset_needs_credentials(factory, api):
    assert api.get(url(factory)).status_code == 401


def test_a_missing_factory_is_404(creator, as_user):
    assert as_user(creator).get("/api/v1/factories/999999/demonstrations/").status_code == 404
