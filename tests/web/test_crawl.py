"""Every page renders for every role: starting at the home page and the role's start page,
follow every same-site link (GET only) found in the HTML, as anonymous, farmer, creator,
ambassador and staff, on the demo data (`seed_demo`, built through the services).

A link shown to someone must work for them (200, or a redirect to a page that does); no page
may fail (5xx). Pages of other roles and other users' objects answer 403, 404 or the login
page, and each page of the site (every named URL pattern a browser can GET, and every admin
model) is reached by some role.
"""

from __future__ import annotations

import io
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse
from django.urls.exceptions import Resolver404
from django.utils import timezone

from accounts.services import withdrawal_request
from datasets.selectors import DatasetFilters
from datasets.services.exports import export_build, export_request
from ledger.models import Token
from notifications.services import webhook_endpoint_create
from pools.models import Factory, Submission
from pools.services.attachments import attachment_upload
from pools.services.claims import claim_create
from pools.services.factories import factory_close, factory_pause
from pools.services.settlement import submission_settle
from pools.services.submissions import submission_create, submission_score
from receipts.services import receipt_batches_publish, receipts_build
from referrals.models import Ambassador
from tests.factories import withdrawal_wallet
from tests.pools.dataset_support import PNG, declared

pytestmark = pytest.mark.django_db

User = get_user_model()
SKIPPED_PREFIXES = ("/static/", "/media/", "/api/")
# Never followed: logging out (the crawl would lose its session) and the admin's delete pages.
SKIPPED_SUFFIXES = ("/logout/", "/delete/")
# A URL pattern (its route) is crawled this many times at most: pagination, sorting and
# filter links are variations of one page, and the admin has one change page per row.
VISITS_PER_ROUTE = 4
# 204: a live part's poll (hx-get) saying nothing changed since the page was drawn.
OK = (200, 204, 302)
SOLANA_ADDRESS = "7EcDhSYGxXyscszYEp35KHN8vvw3svAuLKTzXwCFLtV"

# Named URL patterns a browser never GETs: form targets (POST only) and machine endpoints.
NOT_PAGES = {
    "accounts:logout",
    "accounts:token-rotate",
    "accounts:token-revoke",
    "farmers:claim_start",
    "farmers:withdrawal_create",
    "pools:factory-pause",
    "pools:factory-resume",
    "pools:factory-export-start",
    "pools:alerts-read",
    "pools:alert-read",
    "pools:farmer-list-remove",
    "pools:factory-task-remove",
    "pools:factory-demonstration-flag",
    "pools:factory-demonstration-bonus",
    "referrals:become",
    "referrals:stake",
    "referrals:unstake",
    "referrals:withdraw",
    "chain:wallet-unlink",
    "chain:deposit-intent-create",
    "accounts:notifications-read",
    "accounts:notification-open",
    "accounts:webhook-delete",
    "accounts:webhook-test",
    "farmers:submission_appeal",
    "pools:balance-withdraw",
    "pools:balance-fund",
    "healthz",
    # Not pages: the Prometheus text for scrapers (tests/core/test_observability.py) and the
    # keyframe images a submission page embeds as <img> (tests/web/test_evidence_pages.py);
    # both have their rows in the permission matrix.
    "metrics",
    "evidence:thumbnail",
    "api-schema",
    "api-docs",
}


# What each role reaches by following links from its start pages (at least).
FARMER_PAGES = {
    "farmers:browse",
    "farmers:work",
    "farmers:earnings",
    "accounts:account",
    "accounts:password-change",
    "chain:wallets",
}
ROLE_PAGES = {
    "anonymous": {"home", "accounts:login", "accounts:signup", "referrals:link"},
    "farmer": FARMER_PAGES
    | {"farmers:claim", "farmers:submission", "farmers:submission_status", "referrals:dashboard"},
    "creator": {
        "pools:dashboard",
        "pools:factory-create",
        "pools:factory-detail",
        "pools:factory-submissions",
        "pools:factory-edit",
        "pools:factory-fund",
        "pools:factory-rate",
        "pools:factory-close",
        "pools:factory-dataset",
        "pools:factory-demonstration",
        "pools:factory-attachment",
        "pools:factory-export",
        "pools:factory-export-download",
        "pools:balance",
        "accounts:account",
        "referrals:dashboard",
    },
    "ambassador": FARMER_PAGES | {"referrals:dashboard"},
    "staff": {"admin:index", "home", "accounts:account"},
}


class _Links(HTMLParser):
    """The targets of <a href> and of htmx's hx-get (the live parts of pages poll them)."""

    def __init__(self):
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if attributes.get("hx-get"):
            self.links.append(attributes["hx-get"])


def crawlable(href: str, base: str) -> str | None:
    """The same-site path (with its query) `href` on page `base` points to, when the crawl
    follows it."""
    parts = urlsplit(urldefrag(urljoin(base, href)).url)
    if parts.scheme not in ("", "http") or parts.netloc not in ("", "testserver"):
        return None  # mailto:, javascript:, other sites
    if parts.path.startswith(SKIPPED_PREFIXES) or parts.path.endswith(SKIPPED_SUFFIXES):
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def links_in(html: str, base: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return [path for href in parser.links if (path := crawlable(href, base))]


@dataclass
class Visit:
    url: str
    status: int
    route: str
    name: str | None
    linked_from: str | None
    to_login: bool = False


@dataclass
class Crawl:
    role: str
    visits: list[Visit] = field(default_factory=list)

    @property
    def names(self) -> set[str]:
        """The URL patterns this role reached: answered, or (like /r/<code>) redirecting
        somewhere else than the login page."""
        return {visit.name for visit in self.visits if visit.name and visit.status in OK and not visit.to_login}

    def statuses(self) -> Counter:
        return Counter(visit.status for visit in self.visits)


def route_of(path: str) -> tuple[str, str | None]:
    try:
        match = resolve(urlsplit(path).path)
    except Resolver404:
        return path, None
    return match.route, match.view_name


def crawl(client: Client, role: str, starts: list[str]) -> Crawl:
    result = Crawl(role)
    queue = deque((url, None) for url in starts)
    seen: set[str] = set()
    per_route: Counter = Counter()
    while queue:
        url, parent = queue.popleft()
        if url in seen:
            continue
        seen.add(url)
        route, name = route_of(url)
        if per_route[route] >= VISITS_PER_ROUTE:
            continue
        per_route[route] += 1
        try:
            response = client.get(url)
        except Exception as error:  # the test client re-raises a view's exception (a 500)
            raise AssertionError(f"{role}: GET {url} (linked from {parent}) failed") from error
        to_login = response.status_code == 302 and response["Location"].startswith(reverse("accounts:login"))
        result.visits.append(Visit(url, response.status_code, route, name, parent, to_login))
        if response.status_code == 302:
            target = crawlable(response["Location"], url)
            if target:
                queue.append((target, url))
        elif response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            queue.extend((target, url) for target in links_in(response.content.decode(), url))
    return result


def demo_world() -> dict[str, User]:
    """The demo data, plus what makes the rarer pages and states appear: for the farmer an
    open claim, a submission still being scored and a withdrawal; for the creator a
    demonstration with an uploaded attachment, a finished and a queued export, a paused and a
    closed factory."""
    call_command("seed_demo", stdout=io.StringIO())
    users = {user.username: user for user in User.objects.all()}
    dave, alice, bob = users["dave"], users["alice"], users["bob"]
    calendar = Factory.objects.get(title="Book a meeting room in the calendar")

    with_attachment = submit(calendar, dave, attachments=[declared("final.png", PNG)])
    attachment_upload(
        attachment=with_attachment.attachments.get(), chunks=[PNG], content_type="image/png", length=len(PNG)
    )
    submission_score(submission_id=with_attachment.pk)
    submission_settle(submission_id=with_attachment.pk)
    submit(calendar, dave)  # waits for the scorer: its page polls
    claim_create(factory=calendar, farmer=dave)
    withdrawal_request(
        user=dave, token=Token.objects.get(symbol="USDC"), amount="0.01", address=withdrawal_wallet(dave)
    )

    built = export_request(factory=calendar, actor=alice, filters=DatasetFilters(), include_attachments=True)
    export_build(export_id=built.pk)
    export_request(factory=calendar, actor=alice, filters=DatasetFilters())  # queued: its row polls
    factory_pause(factory=Factory.objects.get(title="Fill an expense report"), actor=bob)
    # A webhook endpoint: its delivery log is linked from the webhooks page.
    webhook_endpoint_create(owner=alice, url="https://example.com/forge-hooks")
    factory_close(factory=Factory.objects.get(title="Budget spreadsheet in Google Sheets"), actor=alice)
    with override_settings(FORGE_RECEIPT_SIGNING_KEY="22" * 32):  # signed receipts, an hour published
        receipts_build()
        receipt_batches_publish(now=timezone.now() + timedelta(hours=1))
    return users


def submit(factory: Factory, farmer, *, attachments=()) -> Submission:
    """Claim and submit a recording of the calendar task; in a `db` test nothing scores it
    until the test does. (The quality agent refuses a spreadsheet recording for a calendar
    task, and the creator's dataset only lists accepted work, with its attachment link.)"""
    claim = claim_create(factory=factory, farmer=farmer)
    return submission_create(
        claim_id=claim.pk, farmer=farmer, demonstration={**calendar_demonstration(), "attachments": list(attachments)}
    )


def calendar_demonstration() -> dict:
    """Recorded just now, 70 s long: inside the claim it is submitted for."""
    ended = timezone.now()
    return {
        "started_at": (ended - timedelta(seconds=70)).isoformat(),
        "ended_at": ended.isoformat(),
        "steps": [
            {"t": 1.3, "action": "navigate", "url": "https://calendar.example.com/week"},
            {"t": 6.8, "action": "click", "target": "Tomorrow, 10:00"},
            {"t": 11.2, "action": "type", "target": "Event title", "text": "Planning"},
            {"t": 16.9, "action": "type", "target": "Time", "text": "10:00-11:00"},
            {"t": 24.5, "action": "click", "target": 'room "Everest"'},
            {"t": 29.1, "action": "click", "target": 'button "Save"'},
        ],
        "final_state": "Event Planning tomorrow 10:00-11:00, room Everest booked.",
    }


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def project_url_names() -> set[str]:
    """Every named URL pattern outside the admin and the API, as "namespace:name"."""
    names: set[str] = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace in ("admin", "api"):
                    continue
                inner = pattern.namespace or namespace
                walk(pattern.url_patterns, inner if inner else None)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, None)
    return names


@pytest.fixture(autouse=True)
def _files_in_a_temporary_directory(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_every_linked_page_renders_for_every_role():
    users = demo_world()
    ambassador = Ambassador.objects.get(user=users["carol"])
    roles = {
        # role: (user, start pages beyond the home page)
        "anonymous": (None, [reverse("accounts:login"), reverse("referrals:link", args=[ambassador.code])]),
        "farmer": (users["dave"], [reverse("farmers:browse")]),
        "creator": (users["alice"], [reverse("pools:dashboard")]),
        "ambassador": (users["carol"], [reverse("referrals:dashboard")]),
        "staff": (users["admin"], [reverse("admin:index")]),
    }
    crawls = {}
    for role, (user, starts) in roles.items():
        crawls[role] = crawl(client_for(user), role, [reverse("home"), *starts])
        print(f"crawl as {role}: {len(crawls[role].visits)} pages, statuses {dict(crawls[role].statuses())}")

    for role, result in crawls.items():
        broken = [f"{v.status} {v.url} (linked from {v.linked_from})" for v in result.visits if v.status not in OK]
        assert not broken, f"{role}: links that do not work for this role:\n" + "\n".join(broken)
        if role != "anonymous":
            relogin = [f"{v.url} (linked from {v.linked_from})" for v in result.visits if v.to_login]
            assert not relogin, f"{role}: links that ask a signed-in user to log in:\n" + "\n".join(relogin)
        missing = ROLE_PAGES[role] - result.names
        assert not missing, f"{role} did not reach {sorted(missing)}"

    # Every page of the site was reached by someone.
    reached = set().union(*(result.names for result in crawls.values()))
    missing = project_url_names() - NOT_PAGES - reached
    assert not missing, f"pages no role reached by following links: {sorted(missing)}"

    # Every admin model's list, and the change (or view) page of each model with rows.
    staff_pages = crawls["staff"].names
    for model in admin.site._registry:
        opts = model._meta
        assert f"admin:{opts.app_label}_{opts.model_name}_changelist" in staff_pages, opts.label
        if model._default_manager.exists():
            assert f"admin:{opts.app_label}_{opts.model_name}_change" in staff_pages, opts.label

    # Other roles' pages and other users' objects.
    others_submission = Submission.objects.exclude(farmer=users["dave"]).first()
    bobs_factory = Factory.objects.filter(creator=users["bob"]).first()
    for role, url, expected in [
        ("anonymous", reverse("farmers:browse"), 302),
        ("anonymous", reverse("pools:dashboard"), 302),
        ("anonymous", reverse("referrals:dashboard"), 302),
        ("farmer", reverse("pools:dashboard"), 403),
        ("farmer", reverse("farmers:submission", args=[others_submission.pk]), 404),
        ("creator", reverse("farmers:browse"), 403),
        ("creator", reverse("pools:factory-detail", args=[bobs_factory.pk]), 404),
        ("staff", reverse("farmers:browse"), 403),
    ]:
        response = client_for(roles[role][0]).get(url)
        assert response.status_code == expected, (role, url, response.status_code)
        if expected == 302:
            assert response["Location"].startswith(reverse("accounts:login")), (role, url)
        else:
            assert "Forge Pools" in response.content.decode(), "the friendly error page, with the site's layout"
