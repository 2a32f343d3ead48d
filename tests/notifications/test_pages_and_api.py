"""The notification centre (header count, list, mark read), preferences, and the webhook pages
and API: wiring, ownership and bad input (a clear 400 that changes nothing)."""

from __future__ import annotations

import pytest
from django.test import Client

from notifications.models import Kind, Notification, NotificationPreference, WebhookEndpoint
from notifications.services import notify, webhook_endpoint_create
from tests.factories import CreatorFactory, FarmerFactory

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def told(user, n=2):
    for i in range(n):
        notify(user=user, kind=Kind.SUBMISSION_PAID, subject=f"Paid #{i}", body="b", url="/farm/work/", key=f"k{i}")


def test_the_header_counts_unread_and_the_centre_marks_them_read(django_capture_on_commit_callbacks):
    farmer, other = FarmerFactory(), FarmerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        told(farmer)
        told(other)
    client = page_client(farmer)
    page = client.get("/farm/").content.decode()
    assert 'data-unread="2"' in page and "2 unread" in page

    centre = client.get("/accounts/notifications/").content.decode()
    assert "Paid #0" in centre and "Paid #1" in centre
    first = Notification.objects.filter(user=farmer).order_by("pk").first()
    others = Notification.objects.filter(user=other).first()
    assert client.post("/accounts/notifications/read/", {"id": others.pk}).status_code == 302
    assert Notification.objects.filter(user=other, read_at__isnull=True).count() == 2  # not theirs: untouched
    assert client.post("/accounts/notifications/read/", {"id": "abc"}).status_code == 400
    with django_capture_on_commit_callbacks(execute=True):  # the cached count is forgotten on commit
        client.post("/accounts/notifications/read/", {"id": first.pk})
    assert 'data-unread="1"' in client.get("/farm/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/notifications/read/")
    assert 'data-unread="0"' in client.get("/farm/").content.decode()


def test_opening_a_notification_marks_it_read_and_follows_its_url(django_capture_on_commit_callbacks):
    farmer, other = FarmerFactory(), FarmerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        told(farmer, 1)
        told(other, 1)
    mine = Notification.objects.get(user=farmer)
    theirs = Notification.objects.get(user=other)
    client = page_client(farmer)
    centre = client.get("/accounts/notifications/").content.decode()
    assert f'action="/accounts/notifications/{mine.pk}/open/"' in centre  # the subject opens it

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/accounts/notifications/{mine.pk}/open/")
    assert response.status_code == 302 and response["Location"] == "/farm/work/"
    mine.refresh_from_db()
    assert mine.read_at is not None
    assert 'data-unread="0"' in client.get("/farm/").content.decode()  # the header count follows
    read_at = mine.read_at
    assert client.post(f"/accounts/notifications/{mine.pk}/open/")["Location"] == "/farm/work/"
    mine.refresh_from_db()
    assert mine.read_at == read_at  # opened again: still the first reading

    assert client.post(f"/accounts/notifications/{theirs.pk}/open/").status_code == 404  # not theirs
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    assert client.get(f"/accounts/notifications/{mine.pk}/open/").status_code == 405  # a link cannot open it


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example/phish",
        "javascript:alert(1)",
        "http://testserver/farm/work/",  # this very site, absolute: followed
        "",
    ],
)
def test_only_same_site_urls_are_followed(url):
    """No open redirect: only this site is followed; an absolute url elsewhere, a
    scheme-relative one, a backslash trick or another scheme comes back to the centre (still
    marked read)."""
    farmer = FarmerFactory()
    notification = Notification.objects.create(user=farmer, kind=Kind.SUBMISSION_PAID, subject="s", url=url)
    response = page_client(farmer).post(f"/accounts/notifications/{notification.pk}/open/")
    assert response.status_code == 302
    expected = url if url == "http://testserver/farm/work/" else "/accounts/notifications/"
    assert response["Location"] == expected
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_preferences_page_saves_each_choice(django_capture_on_commit_callbacks):
    farmer = FarmerFactory(email="f@example.com")
    client = page_client(farmer)
    assert client.get("/accounts/notifications/preferences/").status_code == 200
    choices = {f"{kind}:in_app": "on" for kind in Kind.values} | {f"{kind}:email": "on" for kind in Kind.values}
    del choices[f"{Kind.SUBMISSION_PAID}:email"]
    assert client.post("/accounts/notifications/preferences/", choices).status_code == 302
    preference = NotificationPreference.objects.get(user=farmer, kind=Kind.SUBMISSION_PAID)
    assert (preference.in_app, preference.email) == (True, False)
    with django_capture_on_commit_callbacks(execute=True):
        told(farmer, 1)
    assert Notification.objects.get(user=farmer).email_wanted is False


def test_the_api_lists_marks_and_sets_preferences(as_user, django_capture_on_commit_callbacks):
    farmer = FarmerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        told(farmer)
    api = as_user(farmer)
    listing = api.get("/api/v1/notifications/")
    assert listing["X-Unread-Count"] == "2" and len(listing.json()["results"]) == 2
    for body in ({"ids": ["x"]}, {"ids": "1"}, {"ids": [0]}):
        assert api.post("/api/v1/notifications/read/", body, format="json").status_code == 400
    assert api.post("/api/v1/notifications/read/", {}, format="json").json() == {"marked": 2, "unread": 0}
    for body in ([{"kind": "made.up", "in_app": True, "email": True}], {"kind": "submission.paid"}, [{}]):
        assert api.put("/api/v1/notifications/preferences/", body, format="json").status_code == 400
    assert not NotificationPreference.objects.exists()
    body = [{"kind": "appeal.decided", "in_app": True, "email": False}]
    rows = api.put("/api/v1/notifications/preferences/", body, format="json").json()
    assert {"kind": "appeal.decided", "in_app": True, "email": False} in [
        {key: row[key] for key in ("kind", "in_app", "email")} for row in rows
    ]


def test_webhook_pages_create_test_and_delete(settings):
    settings.WEBHOOKS_ALLOW_HTTP = False
    creator = CreatorFactory()
    client = page_client(creator)
    bad = client.post("/accounts/webhooks/", {"url": "http://example.com/hook"})
    assert bad.status_code == 400 and "https" in bad.content.decode()
    assert client.post("/accounts/webhooks/", {"url": "nonsense"}).status_code == 400
    assert client.post("/accounts/webhooks/", {"url": "https://example.com/h", "event_types": ["x"]}).status_code == 400
    assert not WebhookEndpoint.objects.exists()

    created = client.post(
        "/accounts/webhooks/", {"url": "https://example.com/hook", "event_types": ["bonus.paid", "flag.decided"]}
    )
    assert created.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    page = client.get("/accounts/webhooks/").content.decode()
    assert endpoint.secret in page and "bonus.paid, flag.decided" in page
    assert client.get(f"/accounts/webhooks/{endpoint.pk}/deliveries/").status_code == 200
    assert client.post(f"/accounts/webhooks/{endpoint.pk}/delete/").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_webhook_api_refuses_bad_input_and_others_endpoints(as_user):
    creator = CreatorFactory()
    api = as_user(creator)
    for body in ({}, {"url": "nope"}, {"url": "https://example.com/h", "event_types": ["made.up"]}):
        assert api.post("/api/v1/webhooks/", body, format="json").status_code == 400, body
    assert not WebhookEndpoint.objects.exists()
    theirs = webhook_endpoint_create(owner=CreatorFactory(), url="https://example.com/theirs")
    assert api.delete(f"/api/v1/webhooks/{theirs.pk}/").status_code == 404
    assert api.post(f"/api/v1/webhooks/{theirs.pk}/test/").status_code == 404
    assert api.get(f"/api/v1/webhooks/{theirs.pk}/deliveries/").status_code == 404
    response = api.post("/api/v1/webhooks/", {"url": "https://example.com/mine"}, format="json")
    assert response.status_code == 201 and response.json()["secret"].startswith("whsec_")
    assert WebhookEndpoint.objects.count() == 2
