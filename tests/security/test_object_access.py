"""Object-level access: a creator touches only their own factories; a farmer sees only their
own claims, submissions and earnings; lists never leak another user's rows."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from datasets.models import Alert
from pools.models import Submission
from tests.security.world import world_build

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return world_build()


def api_ids(as_user, user, url) -> set[int]:
    response = as_user(user).get(url)
    assert response.status_code == 200
    return {row["id"] for row in response.json()["results"]}


def test_each_user_lists_only_their_own_submissions(world, as_user):
    users = world.users
    everyone = set(Submission.objects.values_list("pk", flat=True))

    # The world gives the farmer more than one submission (the refused and appealed ones) and the
    # creator's factory more than one (the flagged one): each sees exactly what they own.
    own = set(Submission.objects.filter(farmer=users["farmer"]).values_list("pk", flat=True))
    assert world.submission.pk in own and len(own) > 1
    assert api_ids(as_user, users["farmer"], "/api/v1/submissions/") == own
    assert api_ids(as_user, users["other_farmer"], "/api/v1/submissions/") == set()
    assert api_ids(as_user, users["ambassador"], "/api/v1/submissions/") == set()
    # The creator's factory also has the demonstration the world's open flag is on.
    theirs = set(Submission.objects.filter(factory__creator=users["creator"]).values_list("pk", flat=True))
    assert {world.submission.pk, world.flag.submission_id} <= theirs
    assert api_ids(as_user, users["creator"], "/api/v1/submissions/") == theirs
    assert api_ids(as_user, users["other_creator"], "/api/v1/submissions/") == set()
    assert api_ids(as_user, users["staff"], "/api/v1/submissions/") == everyone
    # Filtering by someone else's factory does not widen the list.
    url = f"/api/v1/submissions/?factory={world.factory.pk}"
    assert api_ids(as_user, users["other_creator"], url) == set()


def test_creators_list_only_their_own_factories_and_farmers_only_open_ones(world, as_user):
    users = world.users
    mine = {world.factory.pk, world.paused.pk}

    assert api_ids(as_user, users["creator"], "/api/v1/factories/") == mine
    assert api_ids(as_user, users["other_creator"], "/api/v1/factories/") == {world.other_factory.pk}
    assert api_ids(as_user, users["farmer"], "/api/v1/factories/") == {world.factory.pk, world.other_factory.pk}


def test_balances_are_the_callers_own(world, as_user):
    def usdc(user) -> str:
        rows = {row["token"]: row for row in as_user(user).get("/api/v1/me/balances/").json()}
        return rows["USDC"]["available"] if "USDC" in rows else "0.000000"

    assert usdc(world.users["farmer"]) == "0.162000"  # 0.2 x 0.9 less the 10% fee
    assert usdc(world.users["other_farmer"]) == "0.000000"
    assert as_user(world.users["farmer"]).get("/api/v1/me/").json()["username"] == world.users["farmer"].username


def test_a_farmers_pages_show_only_their_own_work_and_earnings(world):
    def page(role: str, name: str) -> str:
        client = Client()
        client.force_login(world.users[role])
        response = client.get(reverse(name))
        assert response.status_code == 200
        return response.content.decode()

    link = reverse("farmers:submission", kwargs={"submission_id": world.submission.pk})
    assert link in page("farmer", "farmers:work")
    assert link not in page("other_farmer", "farmers:work")
    assert "0.162" in page("farmer", "farmers:earnings")
    assert "0.162" not in page("other_farmer", "farmers:earnings")


def test_another_creator_cannot_read_a_creators_alerts(world):
    client = Client()
    client.force_login(world.users["other_creator"])

    client.post(reverse("pools:alert-read", kwargs={"alert_id": world.alert.pk}))
    client.post(reverse("pools:alerts-read"))

    assert Alert.objects.get(pk=world.alert.pk).read_at is None
    owner = Client()
    owner.force_login(world.users["creator"])
    owner.post(reverse("pools:alert-read", kwargs={"alert_id": world.alert.pk}))
    assert Alert.objects.get(pk=world.alert.pk).read_at is not None


def test_a_farmer_cannot_submit_to_or_read_another_farmers_claim(world, as_user):
    from tests.factories import demonstration

    response = as_user(world.users["farmer"]).post(
        f"/api/v1/claims/{world.other_claim.pk}/submission/", {"demonstration": demonstration()}, format="json"
    )

    assert response.status_code == 404
    assert not Submission.objects.filter(claim=world.other_claim).exists()
    client = Client()
    client.force_login(world.users["farmer"])
    assert client.get(reverse("farmers:claim", kwargs={"claim_id": world.other_claim.pk})).status_code == 404
