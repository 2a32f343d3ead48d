"""In a browser: a farmer hears that a submission's score was lowered below the threshold (the header's unread count and
the notification centre), opens it, appeals with a note, and reads the staff decision with its
reason; on a phone the header with its count does not scroll sideways."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from reviews.models import Appeal
from reviews.services import appeal_decide
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory
from tests.farmers.helpers import settle
from tests.money_helpers import funded_factory

from .conftest import log_in, shot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PHONE = {"width": 390, "height": 844}


def test_a_farmer_is_told_appeals_and_reads_the_decision(new_page):
    # The live server's database commits for real: the settlement's "refused" notification is
    # recorded after its commit, as in production.
    farmer = FarmerFactory(username="ines")
    factory = funded_factory(CreatorFactory(), token="CLONES", reward="25", deposit="1000")
    submission = settle(factory, farmer, "0.3")
    # Scored by the rules and paid at once (tasks run in-process here), then the review's 30%
    # took it back through an adjusting transaction: two notifications.
    assert submission.status == "rejected"

    page = new_page(viewport=PHONE)
    log_in(page, "ines")
    page.goto("/farm/")
    badge = page.get_by_role("link", name="Notifications")
    expect(badge).to_contain_text("2")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "the header scrolls sideways"
    badge.click()
    expect(page.locator("li.unread")).to_have_count(2)
    shot(page, "notifications-centre")
    # Opening it (its subject) marks it read and goes to the submission it is about.
    page.get_by_role("button", name="Score changed").click()
    expect(page).to_have_url(re.compile(rf"/farm/submissions/{submission.pk}/$"))
    expect(page.get_by_role("link", name="Notifications")).to_contain_text("1")

    page.get_by_label("Why is the score wrong?").fill("Step 9 sends the form; the grader missed it.")
    page.get_by_role("button", name="Send the appeal").click()
    expect(page.locator("#appeal")).to_contain_text("Waiting for a staff review")

    appeal_decide(
        appeal_id=Appeal.objects.get(submission=submission).pk,
        reviewer=StaffFactory(),
        quality_score="0.8",
        reason="Step 9 does send the form.",
    )
    page.reload()
    expect(page.locator("#appeal")).to_contain_text("Upheld: score changed")
    expect(page.locator("#appeal")).to_contain_text("Reason: Step 9 does send the form.")
    page.locator("#appeal").scroll_into_view_if_needed()
    shot(page, "appeal-decided")
