"""Alerts for creators: a pool that cannot pay the next few rewards, a target reached, an
export ready. Told once per episode of a condition (on the dashboard and by email), again
when the condition ends and comes back."""

from __future__ import annotations

import pytest
from django.core import mail

from datasets.models import Alert
from datasets.services.alerts import alerts_check
from datasets.tasks import alerts_check_task
from pools.services.claims import claim_create
from pools.services.factories import factory_close, factory_pause
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import fund, funded_factory
from tests.pools.dataset_support import settled

pytestmark = pytest.mark.django_db


@pytest.fixture
def creator_with_email(creator):
    creator.email = "maker@example.com"
    creator.save(update_fields=["email"])
    return creator


def open_alerts(kind) -> list[Alert]:
    return list(Alert.objects.filter(kind=kind, resolved_at__isnull=True))


def test_a_pool_that_cannot_pay_three_more_rewards_alerts_its_creator_once(creator_with_email):
    factory = funded_factory(creator_with_email, reward="1", deposit="2.5")  # 2.5 < 3 x 1

    alerts_check_task.apply()
    alerts_check()  # the condition lasts: no second alert, no second email

    (alert,) = Alert.objects.filter(kind=Alert.Kind.POOL_LOW)
    assert (alert.user_id, alert.factory_id) == (creator_with_email.pk, factory.pk)
    assert "2.5 USDC available" in alert.body
    (email,) = mail.outbox
    assert email.to == ["maker@example.com"]
    assert factory.title in email.subject
    assert f"/creator/factories/{factory.pk}/fund/" in email.body


def test_a_pool_with_enough_for_three_rewards_raises_nothing(creator_with_email):
    funded_factory(creator_with_email, reward="1", deposit="3")

    assert alerts_check() == []
    assert mail.outbox == []


def test_the_number_of_rewards_is_configurable(creator_with_email, settings):
    settings.FORGE_ALERT_POOL_LOW_REWARDS = 5
    funded_factory(creator_with_email, reward="1", deposit="4")

    assert len(alerts_check()) == 1


def test_a_refill_ends_the_episode_and_the_next_shortage_is_told_again(creator_with_email):
    factory = funded_factory(creator_with_email, reward="1", deposit="2")
    alerts_check()
    fund(factory, "10")

    alerts_check()

    (first,) = Alert.objects.filter(kind=Alert.Kind.POOL_LOW)
    assert first.resolved_at is not None
    for _ in range(10):  # claims reserve the pool down to 2 available again
        claim_create(factory=factory, farmer=FarmerFactory())
    alerts_check()
    assert Alert.objects.filter(kind=Alert.Kind.POOL_LOW).count() == 2
    assert len(open_alerts(Alert.Kind.POOL_LOW)) == 1
    assert len(mail.outbox) == 2


def test_a_pool_short_only_of_rewards_beyond_the_target_raises_nothing(creator_with_email):
    """Two slots left before the target and money for both: nothing to worry about."""
    factory = funded_factory(creator_with_email, reward="1", deposit="12", target_count=10)
    for _ in range(8):
        claim_create(factory=factory, farmer=FarmerFactory())  # 4 available, 2 slots left

    assert alerts_check() == []


def test_draft_paused_and_closed_factories_raise_no_pool_alert(creator_with_email):
    funded_factory(creator_with_email, reward="1", deposit=None)  # a draft, never funded
    closed = funded_factory(creator_with_email, reward="1", deposit="1")
    factory_close(factory=closed, actor=creator_with_email)
    paused = funded_factory(creator_with_email, reward="1", deposit="1")
    factory_pause(factory=paused, actor=creator_with_email)

    assert alerts_check() == []


def test_an_open_pool_alert_is_resolved_when_the_factory_closes(creator_with_email):
    factory = funded_factory(creator_with_email, reward="1", deposit="1")
    alerts_check()

    factory_close(factory=factory, actor=creator_with_email)
    alerts_check()

    assert open_alerts(Alert.Kind.POOL_LOW) == []


def test_reaching_the_target_is_told_once(creator_with_email, settings, django_capture_on_commit_callbacks):
    settings.FORGE_GRADER = "manual"
    factory = funded_factory(creator_with_email, reward="0.1", deposit="10", target_count=10)
    for _ in range(9):
        settled(factory, capture=django_capture_on_commit_callbacks)
    assert alerts_check() == []

    settled(factory, capture=django_capture_on_commit_callbacks)
    alerts_check()
    alerts_check()

    (alert,) = Alert.objects.filter(kind=Alert.Kind.TARGET_REACHED)
    assert alert.factory_id == factory.pk and "10 demonstrations were accepted" in alert.body
    assert f"/creator/factories/{factory.pk}/dataset/" in alert.body
    assert [email.subject for email in mail.outbox if "target" in email.subject] == [
        f"[Forge Pools] “{factory.title}” reached its target"
    ]


def test_an_alert_is_shown_even_without_an_email_address(creator):
    funded_factory(creator, reward="1", deposit="1")

    alerts_check()

    assert Alert.objects.filter(user=creator).count() == 1
    assert mail.outbox == []


def test_a_failed_email_is_tried_again_by_the_next_run(creator_with_email, settings):
    settings.EMAIL_BACKEND = "tests.pools.test_alerts.BrokenBackend"
    funded_factory(creator_with_email, reward="1", deposit="1")
    alerts_check()
    alert = Alert.objects.get()
    assert alert.emailed_at is None and alert.email_attempts == 1

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    alerts_check()

    alert.refresh_from_db()
    assert alert.emailed_at is not None and alert.email_attempts == 2
    assert len(mail.outbox) == 1


class BrokenBackend:
    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("smtp down")


def test_the_dashboard_shows_unread_alerts_and_dismissing_hides_them(creator_with_email, client):
    factory = funded_factory(creator_with_email, reward="1", deposit="1")
    alerts_check()
    client.force_login(creator_with_email)

    page = client.get("/creator/").content.decode()
    assert f"“{factory.title}” is running out of funds" in page

    alert = Alert.objects.get()
    assert client.post(f"/creator/alerts/{alert.pk}/read/").status_code == 302
    assert "is running out of funds" not in client.get("/creator/").content.decode()
    alert.refresh_from_db()
    assert alert.read_at is not None and alert.resolved_at is None  # read, still the same episode
    alerts_check()
    assert Alert.objects.count() == 1


def test_mark_all_as_read(creator_with_email, client):
    funded_factory(creator_with_email, reward="1", deposit="1")
    funded_factory(creator_with_email, reward="1", deposit="1")
    alerts_check()
    client.force_login(creator_with_email)

    client.post("/creator/alerts/read/")

    assert not Alert.objects.filter(read_at__isnull=True).exists()


def test_a_creator_sees_and_dismisses_only_their_own_alerts(creator_with_email, client):
    funded_factory(creator_with_email, reward="1", deposit="1")
    alerts_check()
    alert = Alert.objects.get()
    other = CreatorFactory()
    client.force_login(other)

    assert "running out of funds" not in client.get("/creator/").content.decode()
    client.post(f"/creator/alerts/{alert.pk}/read/")
    client.post("/creator/alerts/read/")

    alert.refresh_from_db()
    assert alert.read_at is None


def test_alerts_are_scheduled_by_beat(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"pools.alerts_check", "pools.exports_sweep"} <= tasks
