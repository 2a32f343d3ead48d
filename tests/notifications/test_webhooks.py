"""Signed webhooks (Standard Webhooks) delivered to a real local HTTP server that verifies
each request with the reference verifier (the `standardwebhooks` package, not our code);
retries with backoff, the delivery log, the test event, and the endpoint rules."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from core.exceptions import ApplicationError, NotFound
from notifications.models import Kind, WebhookDelivery, WebhookEndpoint
from notifications.services import (
    notify,
    webhook_deliver,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_sign,
    webhook_test_send,
)
from notifications.tasks import webhooks_sweep_task
from tests.factories import CreatorFactory, FarmerFactory

pytestmark = pytest.mark.django_db


class Receiver(ThreadingHTTPServer):
    """Answers `fail_first` requests with 500, then 204; keeps what it verified."""

    daemon_threads = True
    block_on_close = False

    def __init__(self):
        super().__init__(("127.0.0.1", 0), ReceiverHandler)
        self.secret: str | None = None
        self.fail_first = 0
        self.received: list[dict] = []
        self.rejected: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        with self.server.lock:
            try:
                payload = Webhook(self.server.secret).verify(body, headers)
            except WebhookVerificationError as error:
                self.server.rejected.append(str(error))
                status = 401
            else:
                self.server.received.append({"headers": headers, "payload": payload})
                status = 500 if len(self.server.received) <= self.server.fail_first else 204
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def endpoint(receiver):
    endpoint = webhook_endpoint_create(owner=CreatorFactory(), url=receiver.url, description="ci")
    receiver.secret = endpoint.secret
    return endpoint


def test_the_test_event_arrives_signed_and_verified_by_the_reference_verifier(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_test_send(owner=endpoint.owner, endpoint_id=endpoint.pk)

    delivery.refresh_from_db()
    assert receiver.rejected == []
    (request,) = receiver.received
    assert request["headers"]["webhook-id"] == delivery.message_id
    assert request["headers"]["webhook-signature"].startswith("v1,")
    assert abs(int(request["headers"]["webhook-timestamp"]) - time.time()) < 60
    assert request["payload"]["type"] == "webhook.test"
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 1, 204)


def test_a_wrong_secret_is_refused_by_the_receiver(receiver, endpoint, django_capture_on_commit_callbacks):
    receiver.secret = "whsec_" + "QUJD" * 8  # another key: the signature cannot match
    with django_capture_on_commit_callbacks(execute=True):
        delivery = webhook_test_send(owner=endpoint.owner, endpoint_id=endpoint.pk)
    delivery.refresh_from_db()
    assert receiver.rejected and receiver.received == []
    assert (delivery.status, delivery.last_status_code) == ("pending", 401)  # to be retried


def test_our_signature_matches_the_specs_example():
    # The example of the Standard Webhooks specification (spec/standard-webhooks.md).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    signature = webhook_sign(secret=secret, message_id="msg_p5jXN8AQM9LWM0D4loKWxJek", timestamp=1614265330, body=body)
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_failures_are_retried_with_backoff_until_delivered(receiver, endpoint, settings):
    settings.WEBHOOK_RETRY_SECONDS = [1, 1, 1]
    receiver.fail_first = 2
    (delivery,) = _event(endpoint)

    assert webhook_deliver(delivery_id=delivery.pk) == 1  # 500: again in 1 s
    assert webhook_deliver(delivery_id=delivery.pk) is None  # not due yet: nothing sent
    assert len(receiver.received) == 1
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhooks_sweep_task.apply().get() == 1  # the sweeper sends what is due (eager here)
    time.sleep(1.1)
    assert webhooks_sweep_task.apply().get() == 1

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("succeeded", 3, 204)
    assert len({request["headers"]["webhook-id"] for request in receiver.received}) == 1  # one message id
    assert receiver.rejected == []


def test_delivery_gives_up_after_the_schedule(receiver, endpoint, settings):
    settings.WEBHOOK_RETRY_SECONDS = [0]
    receiver.fail_first = 99
    (delivery,) = _event(endpoint)
    assert webhook_deliver(delivery_id=delivery.pk) == 0
    assert webhook_deliver(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 2)


def test_an_unreachable_endpoint_is_logged_and_retried(endpoint, receiver, settings):
    settings.WEBHOOK_RETRY_SECONDS = [5]
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url="http://127.0.0.1:9/closed")
    (delivery,) = _event(endpoint)
    assert webhook_deliver(delivery_id=delivery.pk) == 5
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.last_status_code is None and "Connect" in delivery.last_error


def test_notify_sends_the_event_to_the_users_subscribed_endpoints_once(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    creator = endpoint.owner
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(event_types=[Kind.BONUS_PAID])
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # the same event delivered twice
            notify(user=creator, kind=Kind.BONUS_PAID, subject="Bonus", payload={"bonus_id": 4}, key="bonus:4")
        notify(user=creator, kind=Kind.FLAG_DECIDED, subject="not subscribed")
        notify(user=FarmerFactory(), kind=Kind.BONUS_PAID, subject="someone else's")

    assert [request["payload"]["type"] for request in receiver.received] == ["bonus.paid"]
    assert receiver.received[0]["payload"]["data"]["bonus_id"] == 4
    assert WebhookDelivery.objects.count() == 1


def test_endpoint_rules(settings):
    creator = CreatorFactory()
    settings.WEBHOOKS_ALLOW_HTTP = False
    for url in ("not a url", "ftp://example.com/x", "http://example.com/hook", "https://" + "a" * 500 + ".com"):
        with pytest.raises(ApplicationError):
            webhook_endpoint_create(owner=creator, url=url)
    with pytest.raises(ApplicationError, match="Unknown event"):
        webhook_endpoint_create(owner=creator, url="https://example.com/h", event_types=["made.up"])
    with pytest.raises(ApplicationError, match="creators"):
        webhook_endpoint_create(owner=FarmerFactory(), url="https://example.com/h")
    settings.WEBHOOK_MAX_ENDPOINTS = 1
    endpoint = webhook_endpoint_create(owner=creator, url="https://example.com/h")
    assert endpoint.secret.startswith("whsec_") and len(endpoint.secret) > 40
    with pytest.raises(ApplicationError, match="At most 1"):
        webhook_endpoint_create(owner=creator, url="https://example.com/other")
    with pytest.raises(NotFound):
        webhook_endpoint_delete(owner=CreatorFactory(), endpoint_id=endpoint.pk)
    assert WebhookEndpoint.objects.count() == 1


def _event(endpoint):
    from notifications.services import webhook_event_send

    return webhook_event_send(owner_id=endpoint.owner_id, event_type="webhook.test", data={"n": 1})


def test_a_settlement_on_the_creators_factory_reaches_their_webhook(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    from pools.services.claims import claim_create
    from pools.services.settlement import submission_settle
    from pools.services.submissions import submission_create, submission_review
    from tests.factories import StaffFactory, demonstration
    from tests.money_helpers import funded_factory

    factory = funded_factory(endpoint.owner, reward="0.2", deposit="1")
    farmer = FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration())
    submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score="0.9")
    with django_capture_on_commit_callbacks(execute=True):
        submission_settle(submission_id=submission.pk)

    (request,) = receiver.received
    assert request["payload"]["type"] == "submission.settled"
    assert request["payload"]["data"] | {"submission_id": submission.pk} == request["payload"]["data"]
    assert request["payload"]["data"]["farmer_reward"] == "162000"  # base units: 0.162 USDC
    assert receiver.rejected == []
