"""A request id follows a submission from the API to the worker that scores and pays it
(issue 20, operations): the id of the submit request travels in the wake-up task's message
headers, and the worker's JSON log lines for that batch carry it."""

import json
import uuid

import pytest
from django.test import Client

from pools.models import Submission
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


def test_the_submit_requests_id_is_on_the_workers_log_lines(start_worker):
    worker = start_worker(extra_env={"LOG_FORMAT": "json"})
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    client = Client()
    client.force_login(FarmerFactory())
    claim = client.post(f"/api/v1/factories/{factory.pk}/claims/", content_type="application/json").json()
    trace = f"trace-{uuid.uuid4().hex[:12]}"

    response = client.post(
        f"/api/v1/claims/{claim['id']}/submission/",
        {"demonstration": demonstration()},
        content_type="application/json",
        HTTP_X_REQUEST_ID=trace,
    )

    assert response.status_code == 201 and response["X-Request-ID"] == trace
    wait_for(
        lambda: Submission.objects.filter(pk=response.json()["id"], status__in=["settled", "rejected"]).exists(),
        message="the worker to settle the submission",
    )

    def traced_lines():
        lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
        return [line for line in lines if line.get("request_id") == trace]

    # The batch logs just after its commit: wait for the line, not only for the row.
    traced = wait_for(
        lambda: (
            [line for line in traced_lines() if line["message"].startswith("batch took=1 settled=1")] and traced_lines()
        ),
        message="the worker's batch line with the request id",
    )
    lines = [json.loads(line) for line in worker.log().splitlines() if line.startswith("{")]
    assert all(line["logger"] and line["level"] and line["time"] for line in traced)
    # Beat-style tasks sent outside a request get an id of their own, never another request's.
    assert not [line for line in lines if line.get("request_id") not in (trace, "") and "trace-" in line["request_id"]]
    assert_audit_clean()


def test_the_metrics_endpoint_counts_the_messages_waiting_in_the_broker(
    publish_to_broker, settings, transactional_db, django_db_serialized_rollback
):
    """No worker: the submission's wake-up waits in the `forge` queue, and /metrics sees it.
    (Serialized rollback, as every transactional test here: a plain flush would recreate the
    content types under new ids and break the next test's restore.)"""
    from core.metrics import metrics_reset
    from tests.core.test_observability import scrape, staff_client

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = publish_to_broker
    metrics_reset()
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="1")
    client = Client()
    client.force_login(FarmerFactory())
    claim = client.post(f"/api/v1/factories/{factory.pk}/claims/", content_type="application/json").json()
    assert scrape(staff_client())[("forge_queue_depth", (("queue", "forge"),))] == 0

    submitted = client.post(
        f"/api/v1/claims/{claim['id']}/submission/", {"demonstration": demonstration()}, content_type="application/json"
    )

    assert submitted.status_code == 201
    samples = scrape(staff_client())
    assert samples[("forge_queue_depth", (("queue", "forge"),))] == 1
    assert samples[("forge_queue_depth", (("queue", "reputation"),))] == 0
    assert samples[("forge_submissions_waiting", (("status", "submitted"),))] == 1
