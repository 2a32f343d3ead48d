"""Appeals on the farmer's submission page and in the API (bad input: a clear 400 or 409 that
changes nothing), the review queue and appeals in the admin (actions, one by one and in bulk),
and the to-do counts on the admin index."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import StaffAction
from pools.models import Submission
from reviews.models import Appeal
from reviews.services import appeal_create
from tests.factories import FarmerFactory, StaffFactory
from tests.reviews.test_appeals import factory, held, refused  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_farmer_appeals_from_the_submission_page_and_sees_the_decision(factory):  # noqa: F811
    farmer, staff = FarmerFactory(), StaffFactory()
    submission = refused(factory, farmer)
    client = page_client(farmer)
    page = client.get(f"/farm/submissions/{submission.pk}/").content.decode()
    assert "Appeal this score" in page

    empty = client.post(f"/farm/submissions/{submission.pk}/appeal/", {"note": "  "})
    assert empty.status_code == 400
    assert "This field is required" in empty.content.decode()
    assert not Appeal.objects.exists()

    sent = client.post(f"/farm/submissions/{submission.pk}/appeal/", {"note": "Step 9 sends the form."}, follow=True)
    assert sent.status_code == 200
    body = sent.content.decode()
    assert "Your appeal" in body and "Step 9 sends the form." in body and "Waiting for a staff review" in body

    again = client.post(f"/farm/submissions/{submission.pk}/appeal/", {"note": "again"})
    assert again.status_code == 400  # the form is gone; a replayed post explains
    assert Appeal.objects.count() == 1

    admin = page_client(staff)
    appeal = Appeal.objects.get()
    response = admin.post(
        "/admin/reviews/appeal/",
        {"action": "decide", "_selected_action": [appeal.pk], "apply": "1", "quality_score": "0.8", "reason": "Done."},
    )
    assert response.status_code == 302
    page = client.get(f"/farm/submissions/{submission.pk}/").content.decode()
    assert "Upheld: score changed" in page and "Reason: Done." in page and "80%" in page


def test_the_api_refuses_bad_appeals_with_400_or_409_and_changes_nothing(factory, as_user):  # noqa: F811
    farmer = FarmerFactory()
    submission = refused(factory, farmer)
    api = as_user(farmer)
    url = f"/api/v1/submissions/{submission.pk}/appeal/"
    for body in ({}, {"note": ""}, {"note": "x" * 2001}, {"note": ["a"]}):
        response = api.post(url, body, format="json")
        assert response.status_code == 400, body
        assert "note" in response.json()
    assert api.post(url, "not json", content_type="application/json").status_code == 400
    assert not Appeal.objects.exists()

    assert api.post(url, {"note": "Look at step 9."}, format="json").status_code == 201
    assert api.post(url, {"note": "twice"}, format="json").status_code == 409
    assert api.get(url).json()["status"] == "pending"


def test_the_decision_api_refuses_bad_scores_and_changes_nothing(factory, as_user):  # noqa: F811
    farmer, staff = FarmerFactory(), StaffFactory()
    appeal = appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n")
    api = as_user(staff)
    url = f"/api/v1/appeals/{appeal.pk}/decision/"
    for body in ({"quality_score": "1.5", "reason": "r"}, {"quality_score": "abc", "reason": "r"}, {"reason": ""}, {}):
        assert api.post(url, body, format="json").status_code == 400, body
    assert api.post("/api/v1/appeals/999999/decision/", {"reason": "r"}, format="json").status_code == 404
    appeal.refresh_from_db()
    assert appeal.status == "pending"
    response = api.post(url, {"quality_score": "0.75", "reason": "Step 9 is there."}, format="json")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["score_after"]) == ("upheld", "0.7500")


def test_the_review_queue_in_the_admin_lists_held_work_and_reviews_it(
    factory,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    staff = StaffFactory()
    rows = [held(factory, FarmerFactory()) for _ in range(3)]
    client = page_client(staff)

    queue = client.get("/admin/reviews/heldsubmission/").content.decode()
    assert "The same sequence of actions was already submitted." in queue
    detail = client.get(f"/admin/reviews/heldsubmission/{rows[0].pk}/change/").content.decode()
    assert "score breakdown" in detail.lower() and "Approve" in detail and "Set a score" in detail
    index = client.get("/admin/").content.decode()
    assert "Held for review" in index and "data-todo-count>3<" in index

    # One by one (the detail page's button posts the action for its row) ...
    with django_capture_on_commit_callbacks(execute=True):  # the settle task runs (eagerly)
        response = client.post(
            "/admin/reviews/heldsubmission/", {"action": "approve", "_selected_action": [rows[0].pk], "index": "0"}
        )
    assert response.status_code == 302
    # ... and in bulk, with the score asked for on an intermediate page.
    ask = client.post(
        "/admin/reviews/heldsubmission/", {"action": "set_score", "_selected_action": [rows[1].pk, rows[2].pk]}
    )
    assert ask.status_code == 200 and "quality_score" in ask.content.decode()
    bad = client.post(
        "/admin/reviews/heldsubmission/",
        {"action": "set_score", "_selected_action": [rows[1].pk, rows[2].pk], "apply": "1", "quality_score": "7"},
        follow=True,
    )
    assert "between 0 and 1" in bad.content.decode()
    assert Submission.objects.filter(pk__in=[rows[1].pk, rows[2].pk], needs_review=True).count() == 2
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/admin/reviews/heldsubmission/",
            {"action": "set_score", "_selected_action": [rows[1].pk, rows[2].pk], "apply": "1", "quality_score": "0.3"},
        )

    statuses = [Submission.objects.get(pk=row.pk) for row in rows]
    assert [(row.status, row.quality_score) for row in statuses] == [
        ("settled", Decimal("0.6")),
        ("rejected", Decimal("0.3")),
        ("rejected", Decimal("0.3")),
    ]
    assert StaffAction.objects.filter(action="submission.score_override", actor=staff).count() == 3
    assert "data-todo-count>0<" in client.get("/admin/").content.decode()


def test_the_appeals_admin_shows_rates_and_dismisses_in_bulk(factory):  # noqa: F811
    staff, farmer = StaffFactory(), FarmerFactory()
    appeals = [appeal_create(farmer=farmer, submission_id=refused(factory, farmer).pk, note="n") for _ in range(2)]
    client = page_client(staff)
    page = client.get("/admin/reviews/appeal/").content.decode()
    assert "Appeal and overturn rates" in page and factory.title in page and farmer.username in page

    client.post(
        "/admin/reviews/appeal/",
        {"action": "dismiss", "_selected_action": [a.pk for a in appeals], "apply": "1", "reason": "Scores stand."},
    )
    assert list(Appeal.objects.values_list("status", flat=True)) == ["dismissed", "dismissed"]
    assert StaffAction.objects.filter(action="appeal.decide").count() == 2
    assert all(appeal.decided_at <= timezone.now() for appeal in Appeal.objects.all())
