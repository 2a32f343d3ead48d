"""Browser tests: Playwright drives Debian's headless Chromium against pytest-django's live
server (a threaded server on the test database), while a real Celery worker on Redis scores
and settles (the machinery of tests/integration/conftest.py).

Each actor (creator, farmer, ambassador, staff) gets a browser context of its own: separate
cookies, so separate sessions. Any page error, console error or 5xx answer seen by a page
fails the test. Screenshots go to test-artifacts/e2e/<journey>-<step>.png.
"""

from __future__ import annotations

import os

import pytest
from django.db import connections
from playwright.sync_api import Page, expect, sync_playwright

# The worker fixtures: `start_worker` (a real `celery worker` on the tests' Redis database,
# consuming against the live server's database) and the publisher switch it depends on.
from tests.integration.conftest import broker_url, publish_to_broker, start_worker  # noqa: F401

from .browser import ARTIFACTS, CHROMIUM_ARGS, chromium_executable

PASSWORD = "correct-horse-battery"  # tests.factories.UserFactory's password
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium per test module.

    Playwright's sync API runs an asyncio event loop in this thread (in a greenlet), and while
    Playwright is started Django sees a "running event loop" here and refuses ORM calls
    (SynchronousOnlyOperation). The tests call the ORM only between browser steps, never while
    the loop does work, so they may: DJANGO_ALLOW_ASYNC_UNSAFE is set while the browser exists,
    and restored after the module.
    """
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    serialized = {alias: getattr(connections[alias], "_test_serialized_contents", None) for alias in connections}
    playwright = sync_playwright().start()
    # Django keeps database connections in context-local storage, and with Playwright started
    # this thread runs in another context: the tests get fresh connection objects. Give them
    # the test database's serialized contents, or serialized rollback silently does nothing
    # (the flush after each test would re-create content types that the next worker test's
    # restore then collides with).
    for alias, contents in serialized.items():
        if contents is not None:
            connections[alias]._test_serialized_contents = contents
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    finally:
        # This context's connections, before it goes: an open one would keep the test
        # database from being dropped at the end of the session.
        connections.close_all()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def new_page(browser, live_server, django_db_serialized_rollback):
    """`new_page(viewport=...)`: a page in a fresh browser context (its own cookies) whose
    relative URLs go to the live server. Errors any page saw fail the test at teardown.

    Serialized rollback, as the worker tests use: a live-server test's database is flushed
    afterwards, and every such test must restore the same way, or the content types a plain
    flush recreates collide with those the next worker test restores.
    """
    expect.set_options(timeout=TIMEOUT_MS)
    contexts = []
    problems: list[str] = []

    def open_page(*, viewport: dict | None = None) -> Page:
        context = browser.new_context(
            base_url=live_server.url,
            viewport=viewport or {"width": 1280, "height": 860},
            # Times are shown in the browser's time zone (static/js/localtime.js): not UTC here.
            timezone_id="Europe/Paris",
            locale="en-GB",
        )
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.on("pageerror", lambda error: problems.append(f"page error on {page.url}: {error}"))
        # A form refused with a 400 is an answer, not an error: Chromium still logs "Failed to
        # load resource" for that document. Only documents' own 4xx answers are let through;
        # a missing script or stylesheet (a subresource) still fails the test.
        refused_documents: set[str] = set()
        page.on(
            "response",
            lambda response: (
                refused_documents.add(response.url)
                if response.request.resource_type == "document" and 400 <= response.status < 500
                else None
            ),
        )
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type} on {page.url}: {message.text}")
                if message.type == "error"
                and not (
                    message.text.startswith("Failed to load resource: the server responded with a status of 4")
                    and message.location.get("url") in refused_documents
                )
                else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} from {response.url}") if response.status >= 500 else None
            ),
        )
        return page

    yield open_page
    # Close the browsers before the database is flushed: no poll may still be running.
    for context in contexts:
        context.close()
    assert not problems, "the browser saw errors:\n" + "\n".join(problems)


def shot(page: Page, name: str) -> None:
    """Save what the page shows now (the viewport, not the whole page: small files) as
    test-artifacts/e2e/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=False)


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text(f"Welcome back, {username}.")).to_be_visible()
