"""Notifications and webhooks through a real worker on Redis: a settlement's "paid"
notification is recorded after commit and its email sent by the worker; a webhook that fails
once is retried by the worker after its backoff (a countdown message through the broker) and
verified by the receiving server with the reference verifier."""

import threading

import pytest

from notifications.models import Kind, Notification, WebhookDelivery
from notifications.services import webhook_endpoint_create, webhook_test_send
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import wait_for
from tests.money_helpers import funded_factory
from tests.notifications.test_webhooks import Receiver

pytestmark = pytest.mark.integration


def test_the_worker_settles_then_the_farmer_is_notified_and_emailed(celery_worker_process):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    farmer = FarmerFactory(email="farmer@example.com")
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())

    notification = wait_for(
        lambda: Notification.objects.filter(user=farmer, emailed_at__isnull=False).first(),
        message="the worker to settle, record the notification and send its email",
    )
    assert notification.kind in (Kind.SUBMISSION_PAID, Kind.SUBMISSION_REFUSED)
    assert notification.payload["submission_id"] == submission.pk
    assert notification.key == f"settled:{submission.pk}"


def test_the_worker_retries_a_failed_webhook_after_its_backoff(start_worker):
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        receiver.fail_first = 1
        start_worker(extra_env={"FORGE_WEBHOOK_RETRY_SECONDS": "1,1,1"})
        endpoint = webhook_endpoint_create(owner=CreatorFactory(), url=receiver.url)
        receiver.secret = endpoint.secret

        delivery = webhook_test_send(owner=endpoint.owner, endpoint_id=endpoint.pk)

        done = wait_for(
            lambda: WebhookDelivery.objects.filter(pk=delivery.pk, status="succeeded").first(),
            message="the worker to deliver the webhook on its second attempt",
        )
        assert done.attempts == 2 and done.last_status_code == 204
        assert receiver.rejected == []
        assert len(receiver.received) == 2
        assert {request["headers"]["webhook-id"] for request in receiver.received} == {delivery.message_id}
    finally:
        receiver.shutdown()
        receiver.server_close()
