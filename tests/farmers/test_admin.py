"""Reputation in the admin: profiles are read-only with a recompute action; the history is
read-only."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from farmers.models import FarmerProfile, ReputationSnapshot
from farmers.services import reputation_recompute
from tests.farmers.helpers import settle
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


def test_the_recompute_action_brings_a_profile_in_line_with_settled_work(admin_client, creator, farmer):
    settle(funded_factory(creator), farmer, "1")  # the after-commit task does not run in a db test
    # Settling flagged the farmer for the coalesced refresh, which has not run: out of date.
    profile, _ = FarmerProfile.objects.update_or_create(user=farmer, defaults={"reputation": Decimal("50")})

    response = admin_client.post(
        reverse("admin:farmers_farmerprofile_changelist"),
        {"action": "recompute", ACTION_CHECKBOX_NAME: [profile.pk]},
        follow=True,
    )

    profile.refresh_from_db()
    assert profile.reputation == Decimal("62.50")  # one perfect, on-time submission
    assert "Recomputed 1 reputation(s)." in response.content.decode()
    assert ReputationSnapshot.objects.filter(user=farmer).count() == 1


def test_profiles_and_history_cannot_be_edited_added_or_deleted(admin_client, creator, farmer):
    settle(funded_factory(creator), farmer, "0.8")
    profile = reputation_recompute(farmer_id=farmer.pk)
    snapshot = ReputationSnapshot.objects.get(user=farmer)

    profile_page = admin_client.get(reverse("admin:farmers_farmerprofile_change", args=[profile.pk]))
    history = admin_client.get(reverse("admin:farmers_reputationsnapshot_changelist"))
    snapshot_page = admin_client.get(reverse("admin:farmers_reputationsnapshot_change", args=[snapshot.pk]))

    assert profile_page.status_code == 200
    assert 'name="reputation"' not in profile_page.content.decode()
    assert farmer.username in history.content.decode()
    assert snapshot_page.status_code == 200
    assert 'name="reputation"' not in snapshot_page.content.decode()
    for name in ("admin:farmers_farmerprofile_add", "admin:farmers_reputationsnapshot_add"):
        assert admin_client.get(reverse(name)).status_code == 403
    assert admin_client.get(reverse("admin:farmers_reputationsnapshot_delete", args=[snapshot.pk])).status_code == 403
