"""`/metrics`: the Prometheus endpoint (docs/operations.md, "Metrics").

Open to staff, to clients whose address is in FORGE_METRICS_ALLOWED_NETWORKS, and to a bearer
FORGE_METRICS_TOKEN; everyone else gets 403. Each scrape reads:

- from PostgreSQL, small indexed counts: submissions waiting to be scored or settled and the
  oldest one's age, held submissions, pending deposits, withdrawals and on-chain transfers,
  open deposit intents, the EVM watcher's cursor (its age and block);
- from the broker, the length of each Celery queue;
- from the shared counters of core/metrics.py, written by the workers: settlements (rate() of
  the counter is settlements/s), the submit-to-paid histogram, grading time per component,
  and the last ledger audit's result and age.

Here, at the top, because it reads every app; it writes nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time

from django.conf import settings
from django.db.models import Count, Max, Min
from django.http import HttpResponse, HttpResponseForbidden
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from accounts.models import Withdrawal
from chain.models import ChainTransfer, DepositIntent, EvmCursor, SolanaCursor
from core.metrics import LAG_BUCKETS, metrics_read
from pools.models import Deposit, Submission

logger = logging.getLogger(__name__)


def _queue_lengths() -> dict[str, int | None]:
    """{queue: messages waiting} on a Redis broker; None when it cannot be read."""
    queues = [q.strip() for q in settings.FORGE_WORKER_QUEUES.split(",") if q.strip()]
    url = settings.CELERY_BROKER_URL or ""
    if settings.CELERY_TASK_ALWAYS_EAGER or not url.startswith(("redis://", "rediss://")):
        return {}
    try:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        pipe = client.pipeline(transaction=False)
        for queue in queues:
            pipe.llen(queue)
        return dict(zip(queues, pipe.execute(), strict=True))
    except Exception as error:
        logger.warning("broker queue lengths unreadable: %s", error)
        return dict.fromkeys(queues)


class ForgeCollector:
    def collect(self):
        now = timezone.now()

        queue = GaugeMetricFamily("forge_queue_depth", "Messages waiting in a Celery queue", labels=["queue"])
        for name, length in _queue_lengths().items():
            queue.add_metric([name], float("nan") if length is None else length)
        yield queue

        waiting = Submission.objects.filter(status__in=[Submission.Status.SUBMITTED, Submission.Status.SCORING])
        by_status = GaugeMetricFamily(
            "forge_submissions_waiting", "Submissions not settled yet, by status (held ones apart)", labels=["status"]
        )
        counts = dict.fromkeys(["submitted", "scoring", "held"], 0)
        rows = waiting.values("status", "needs_review").order_by().annotate(n=Count("id"))
        for status, held, count in rows.values_list("status", "needs_review", "n"):
            counts["held" if held else status] += count
        for status, count in counts.items():
            by_status.add_metric([status], count)
        yield by_status

        oldest = waiting.filter(needs_review=False).aggregate(oldest=Min("submitted_at"))["oldest"]
        yield GaugeMetricFamily(
            "forge_oldest_waiting_submission_seconds",
            "Age of the oldest submission waiting to be scored or settled (0: none)",
            value=(now - oldest).total_seconds() if oldest else 0.0,
        )

        pending = GaugeMetricFamily("forge_pending", "Money waiting for someone: count by kind", labels=["kind"])
        pending.add_metric(["deposits"], Deposit.objects.filter(status=Deposit.Status.PENDING).count())
        pending.add_metric(["withdrawals"], Withdrawal.objects.filter(status=Withdrawal.Status.PENDING).count())
        pending.add_metric(["deposit_intents"], DepositIntent.objects.filter(status=DepositIntent.Status.OPEN).count())
        pending.add_metric(
            ["chain_transfers"], ChainTransfer.objects.filter(status=ChainTransfer.Status.PENDING).count()
        )
        yield pending

        lag = GaugeMetricFamily(
            "forge_chain_watcher_lag_seconds", "Seconds since the EVM watcher last moved its cursor", labels=["cursor"]
        )
        block = GaugeMetricFamily(
            "forge_chain_watcher_next_block", "The first block not scanned yet", labels=["cursor"]
        )
        for cursor in EvmCursor.objects.all():
            lag.add_metric([cursor.name], (now - cursor.updated_at).total_seconds())
            block.add_metric([cursor.name], cursor.next_block)
        solana = SolanaCursor.objects.aggregate(latest=Max("updated_at"))["latest"]
        if solana is not None:  # one cursor per watched address: the freshest tells the watcher runs
            lag.add_metric(["solana"], (now - solana).total_seconds())
        yield lag
        yield block

        shared = metrics_read()
        yield CounterMetricFamily(
            "forge_settlements", "Submissions settled (rate() is settlements/s)", value=shared.get("settle_count", 0.0)
        )
        buckets = [(str(bound), shared.get(f"settle_lag_le|{bound}", 0.0)) for bound in LAG_BUCKETS]
        buckets.append(("+Inf", shared.get("settle_lag_count", 0.0)))
        yield HistogramMetricFamily(
            "forge_submit_to_paid_seconds",
            "From the submission to its settlement",
            buckets=buckets,
            sum_value=shared.get("settle_lag_sum", 0.0),
        )
        grading_seconds = CounterMetricFamily(
            "forge_grading_seconds", "Time spent grading, per component", labels=["component"]
        )
        grading_count = CounterMetricFamily(
            "forge_grading_submissions", "Submissions through each grading component", labels=["component"]
        )
        for key, value in sorted(shared.items()):
            name, _, component = key.partition("|")
            if name == "grading_seconds":
                grading_seconds.add_metric([component], value)
            elif name == "grading_count":
                grading_count.add_metric([component], value)
        yield grading_seconds
        yield grading_count

        audit_at = shared.get("ledger_audit_at")
        yield GaugeMetricFamily(
            "forge_ledger_audit_ok",
            "1 if the last ledger audit was clean, 0 if not, -1 if none recorded",
            value=shared.get("ledger_audit_ok", -1.0),
        )
        yield GaugeMetricFamily(
            "forge_ledger_audit_mismatches",
            "Mismatches the last ledger audit found",
            value=shared.get("ledger_audit_mismatches", 0.0),
        )
        yield GaugeMetricFamily(
            "forge_ledger_audit_age_seconds",
            "Seconds since the last ledger audit (-1: none recorded)",
            value=time.time() - audit_at if audit_at else -1.0,
        )


def _allowed(request) -> bool:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_staff:
        return True
    token = settings.FORGE_METRICS_TOKEN
    given = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for network in settings.FORGE_METRICS_ALLOWED_NETWORKS:
        try:
            if address in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            logger.error("FORGE_METRICS_ALLOWED_NETWORKS: %r is not a network", network)
    return False


def metrics(request):
    if not _allowed(request):
        return HttpResponseForbidden("Metrics are for staff and the monitoring network.")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ForgeCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
