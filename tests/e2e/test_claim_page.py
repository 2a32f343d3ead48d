"""In a browser: a farmer's claim on a factory that requires a screen recording says so, offers
the recorder archive (no JSON), and links the format page (the README screenshot
"farmer-claim-recorder-archive")."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pools.services.claims import claim_create
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import funded_factory

from .conftest import log_in, shot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_a_claim_that_requires_a_recording_offers_the_recorder_archive(new_page):
    farmer = FarmerFactory(username="rosa")
    factory = funded_factory(
        CreatorFactory(), title="Budget spreadsheet in Google Sheets", reward="0.2", requires_recording=True
    )
    claim = claim_create(factory=factory, farmer=farmer)

    page = new_page()
    log_in(page, "rosa")
    page.goto(f"/farm/claims/{claim.pk}/")
    what = page.locator("section[aria-labelledby=what-title]")
    what.scroll_into_view_if_needed()
    expect(what.get_by_role("note")).to_contain_text("This task requires a screen recording")
    expect(page.get_by_label("Recorder archive (.zip)")).to_be_visible()
    expect(page.get_by_role("button", name="Insert the worked example")).to_have_count(0)  # no JSON here
    shot(page, "farmer-claim-recorder-archive")
    page.get_by_role("link", name="The demonstration format, field by field").click()
    expect(page).to_have_url(re.compile(r"/farm/format/$"))
