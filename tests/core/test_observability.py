"""Operations (issue 20): the Prometheus endpoint (who may read it, and that each number moves
with the real path: submit API -> batch scoring and settlement -> ledger audit), request ids
in responses and JSON log lines, and Sentry configured only when a DSN is set (nothing is
sent: the tests look at the client's configuration)."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from accounts.services import withdrawal_request
from core.metrics import metrics_reset
from core.observability import RequestIdFilter, logging_config, request_id_reset, request_id_set, sentry_configure
from ledger.models import Token
from ledger.tasks import ledger_audit_task
from pools.models import Submission
from pools.services.batch import process_batch
from tests.factories import CreatorFactory, FarmerFactory, StaffFactory, demonstration, withdrawal_wallet
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_metrics():
    metrics_reset()
    yield
    metrics_reset()


def scrape(client: Client, **extra) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def staff_client() -> Client:
    client = Client()
    client.force_login(StaffFactory())
    return client


def test_metrics_are_refused_to_everyone_but_staff_the_network_and_the_token(settings):
    farmer = Client()
    farmer.force_login(FarmerFactory())
    assert Client().get("/metrics").status_code == 403
    assert farmer.get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer guess").status_code == 403
    assert staff_client().get("/metrics").status_code == 200

    settings.FORGE_METRICS_TOKEN = "s3cret-scrape-token"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-token").status_code == 200
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape-tokem").status_code == 403

    settings.FORGE_METRICS_ALLOWED_NETWORKS = ["10.0.0.0/8", "not a network"]
    assert Client().get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


def test_the_numbers_follow_submissions_settlements_withdrawals_and_the_audit(django_capture_on_commit_callbacks):
    client = staff_client()
    before = scrape(client)
    assert before[("forge_ledger_audit_ok", ())] == -1  # no audit recorded yet
    assert before[("forge_ledger_audit_age_seconds", ())] == -1
    assert before[("forge_settlements_total", ())] == 0

    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="10")
    farmers = [FarmerFactory() for _ in range(3)]
    api = Client()
    for farmer in farmers:
        api.force_login(farmer)
        claim = api.post(f"/api/v1/factories/{factory.pk}/claims/", content_type="application/json")
        assert claim.status_code == 201, claim.content
        submitted = api.post(
            f"/api/v1/claims/{claim.json()['id']}/submission/",
            {"demonstration": demonstration()},
            content_type="application/json",
        )
        assert submitted.status_code == 201, submitted.content

    waiting = scrape(client)
    assert waiting[("forge_submissions_waiting", (("status", "submitted"),))] == 3
    assert waiting[("forge_oldest_waiting_submission_seconds", ())] >= 0

    with django_capture_on_commit_callbacks(execute=True):  # the counters are written after commit
        while process_batch():
            pass
    settled = Submission.objects.filter(status__in=["settled", "rejected"]).count()
    assert settled == 3

    withdrawal_request(
        user=farmers[0], token=Token.objects.get(symbol="USDC"), amount="0.01", address=withdrawal_wallet(farmers[0])
    )
    ledger_audit_task()
    after = scrape(client)
    assert after[("forge_submissions_waiting", (("status", "submitted"),))] == 0
    assert after[("forge_settlements_total", ())] == 3
    assert after[("forge_submit_to_paid_seconds_count", ())] == 3
    assert after[("forge_submit_to_paid_seconds_bucket", (("le", "+Inf"),))] == 3
    assert after[("forge_submit_to_paid_seconds_sum", ())] > 0
    assert after[("forge_grading_submissions_total", (("component", "rules"),))] == 3
    assert after[("forge_grading_seconds_total", (("component", "rules"),))] > 0
    assert after[("forge_grading_submissions_total", (("component", "duplicates"),))] == 3
    assert after[("forge_pending", (("kind", "withdrawals"),))] == 1
    assert after[("forge_pending", (("kind", "deposits"),))] == 0
    assert after[("forge_ledger_audit_ok", ())] == 1
    assert after[("forge_ledger_audit_mismatches", ())] == 0
    assert 0 <= after[("forge_ledger_audit_age_seconds", ())] < 60


def test_every_response_carries_a_request_id_and_a_valid_one_is_kept():
    first, second = Client().get("/healthz"), Client().get("/healthz")
    assert len(first["X-Request-ID"]) == 32 and first["X-Request-ID"] != second["X-Request-ID"]
    assert Client().get("/healthz", HTTP_X_REQUEST_ID="trace-42.a:b")["X-Request-ID"] == "trace-42.a:b"
    refused = Client().get("/healthz", HTTP_X_REQUEST_ID="bad id\nwith a newline")["X-Request-ID"]
    assert refused != "bad id\nwith a newline" and len(refused) == 32


def test_json_log_lines_carry_the_request_id():
    config = logging_config(json_logs=True, level="INFO")
    formatter = logging.config.DictConfigurator(config).configure_custom(dict(config["formatters"]["main"]))
    record = logging.LogRecord("pools.services.batch", logging.INFO, __file__, 1, "batch took=%d", (3,), None)
    token = request_id_set("trace-77")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_reset(token)

    line = json.loads(formatter.format(record))
    assert line["request_id"] == "trace-77"
    assert line["message"] == "batch took=3"
    assert line["level"] == "INFO" and line["logger"] == "pools.services.batch"


def test_sentry_is_configured_only_with_a_dsn():
    import sentry_sdk

    assert sentry_configure(dsn="", environment="test") is False
    assert not sentry_sdk.get_client().is_active()
    try:
        assert sentry_configure(dsn="https://key@sentry.invalid/42", environment="staging") is True
        client = sentry_sdk.get_client()
        assert client.is_active()
        assert client.options["dsn"] == "https://key@sentry.invalid/42"
        assert client.options["environment"] == "staging"
        assert not client.options.get("send_default_pii")
        names = {type(integration).__name__ for integration in client.integrations.values()}
        assert {"DjangoIntegration", "CeleryIntegration"} <= names
    finally:
        sentry_sdk.init(dsn=None)  # back to no client: nothing can be sent by later tests
