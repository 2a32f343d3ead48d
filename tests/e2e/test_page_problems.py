"""The page problems of issue 19 that only a browser sees: where an error lands on the screen,
which field has the focus, and whether a page or a list fits its screen. The ones the HTML
alone shows are tests/web/test_page_problems.py.

No worker here: money is set up through the services before the browser opens the pages.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from pools.services.claims import claim_create
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, withdrawal_wallet
from tests.farmers.helpers import settle
from tests.money_helpers import funded_factory

from .conftest import log_in, shot

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 800}


def in_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    size = page.viewport_size
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= size["height"]


def test_a_refused_withdrawal_is_shown_in_view_next_to_the_amount_in_plain_words(new_page):
    farmer = FarmerFactory(username="tomas")
    factory = funded_factory(CreatorFactory(), token="CLONES", reward="25", deposit="1000")
    for _ in range(3):  # some settled work: the earnings page is long, the form far down before
        settle(factory, farmer, "0.9")
    wallet = withdrawal_wallet(farmer)  # withdrawals go only to a wallet linked by signature

    page = new_page(viewport=LAPTOP)
    log_in(page, "tomas")
    page.goto("/farm/earnings/")
    page.get_by_label("Token").select_option("CLONES")
    page.get_by_label("Amount").fill("30000")
    page.get_by_label("Wallet address").fill(wallet)
    page.get_by_role("button", name="Request withdrawal").click()

    error = page.locator("#withdrawals .field-errors")
    expect(error).to_have_text(re.compile(r"^You have [\d,.]+ CLONES available; you asked for 30,000 CLONES\.$"))
    assert "holds" not in error.inner_text() and "user:" not in error.inner_text()
    expect(page.get_by_label("Amount")).to_be_focused()
    assert in_viewport(page, error), "the error is below the fold"
    shot(page, "problems-withdrawal-error")


def test_the_creator_dashboard_does_not_scroll_sideways_on_a_phone(new_page):
    creator = CreatorFactory(username="cora")
    for title, token, reward, deposit in (
        ("Book a meeting room in the calendar", "CLONES", "25", "10000"),
        ("Budget spreadsheet in Google Sheets", "USDC", "0.2", "50"),
        ("Fill an expense report", "ETH", "0.0001", "0.01"),
    ):
        factory = funded_factory(creator, title=title, token=token, reward=reward, deposit=deposit)
    claim_create(factory=factory, farmer=FarmerFactory())

    page = new_page(viewport=PHONE)
    log_in(page, "cora")
    page.goto("/creator/")
    expect(page.get_by_role("link", name="Book a meeting room in the calendar")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the dashboard is {overflow}px wider than the phone"
    shot(page, "problems-creator-dashboard-phone")


def test_admin_changelists_fit_a_1280_pixel_screen(new_page):
    creator = CreatorFactory()
    factory = funded_factory(creator, title="Budget spreadsheet in Google Sheets", reward="0.2")
    settle(factory, FarmerFactory(username="a-farmer-with-a-long-name"), "0.9")
    claim_create(factory=factory, farmer=FarmerFactory())
    StaffFactory(username="root", is_superuser=True)

    page = new_page(viewport=LAPTOP)
    log_in(page, "root")
    page.goto("/admin/")
    lists = sorted(
        {
            href
            for href in page.eval_on_selector_all("#content-main a", "links => links.map(a => a.getAttribute('href'))")
            if href and re.fullmatch(r"/admin/\w+/\w+/", href)
        }
    )
    assert "/admin/pools/submission/" in lists and "/admin/pools/claim/" in lists
    cut = []
    for href in lists:
        page.goto(href)
        widths = page.evaluate(
            "(() => { const r = document.querySelector('#changelist .results');"
            " return r ? [r.scrollWidth, r.clientWidth] : null })()"
        )
        if widths and widths[0] > widths[1] + 1:
            cut.append(f"{href}: {widths[0]}px of content in {widths[1]}px")
        if href == "/admin/pools/submission/":
            shot(page, "problems-admin-submissions")
    assert not cut, "changelists cut off at 1280 px:\n" + "\n".join(cut)


def test_a_creator_reads_scores_as_percentages_beside_the_charts(new_page):
    creator = CreatorFactory(username="cora")
    factory = funded_factory(creator, title="Budget 2026 spreadsheet", reward="0.2", deposit="10", target_count=10)
    for score in ("0.9022", "0.98", "0.4"):
        settle(factory, FarmerFactory(), score)

    page = new_page()
    log_in(page, "cora")
    page.goto(f"/creator/factories/{factory.pk}/")
    submissions = page.locator("#submissions")
    expect(submissions).to_contain_text("90.2%")
    expect(submissions).to_contain_text("98%")
    expect(submissions).not_to_contain_text("0.9022")
    expect(page.locator("#quality-chart")).to_be_visible()
    page.get_by_role("heading", name="Quality and spend").evaluate(
        "element => element.scrollIntoView({block: 'start'})"
    )
    shot(page, "creator-charts-and-submissions")


def test_the_score_chart_spans_0_to_1_whatever_the_scores(new_page):
    """All scores between 0.9 and 1: the quality chart's axis still reads 0.0 at its left end
    and 1.0 at its right end, in the browser (it used to stop at 0.9, under the last bar)."""
    creator = CreatorFactory(username="axel")
    factory = funded_factory(creator, title="Axis check", reward="0.2", deposit="10")
    for score in ("0.95", "0.97"):
        settle(factory, FarmerFactory(), score)

    page = new_page()
    log_in(page, "axel")
    page.goto(f"/creator/factories/{factory.pk}/")
    ticks = page.locator("#quality-chart svg text.x-tick")
    expect(ticks.first).to_have_text("0.0")
    expect(ticks.last).to_have_text("1.0")
    boxes = [ticks.first.bounding_box(), ticks.last.bounding_box()]
    axis = page.locator("#quality-chart svg line.axis").bounding_box()
    assert abs(boxes[0]["x"] + boxes[0]["width"] / 2 - axis["x"]) < 2
    assert abs(boxes[1]["x"] + boxes[1]["width"] / 2 - (axis["x"] + axis["width"])) < 2
