"""Numbers the web process, the workers and beat share for the Prometheus endpoint
(forge/metrics.py, docs/operations.md "Metrics"): counters and last values in one Redis hash,
so a scrape of any web process sees what every worker did.

Written at most once per batch (one pipelined round trip), never raised: a metric lost while
Redis is down is better than a settlement that fails for it. Without REDIS_URL (a single
process: `make run` without a broker, some tests) the numbers live in this process.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings

logger = logging.getLogger(__name__)

HASH = "forge:metrics"
# Upper bounds (seconds) of the submit-to-paid histogram's buckets.
LAG_BUCKETS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)

_local: dict[str, float] = {}
_local_lock = threading.Lock()
_clients: dict[str, object] = {}


def _client():
    url = getattr(settings, "REDIS_URL", "")
    if not url:
        return None
    client = _clients.get(url)
    if client is None:
        import redis

        client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        _clients[url] = client
    return client


def counters_add(values: dict[str, float]) -> None:
    """Add each value to its counter (created at 0)."""
    values = {name: float(value) for name, value in values.items() if value}
    if not values:
        return
    client = _client()
    if client is None:
        with _local_lock:
            for name, value in values.items():
                _local[name] = _local.get(name, 0.0) + value
        return
    try:
        pipe = client.pipeline(transaction=False)
        for name, value in values.items():
            pipe.hincrbyfloat(HASH, name, value)
        pipe.execute()
    except Exception as error:  # Redis down: the metric is lost, nothing else
        logger.debug("metrics not recorded: %s", error)


def values_set(values: dict[str, float]) -> None:
    """Set last values (a gauge: the ledger audit's result and time)."""
    client = _client()
    if client is None:
        with _local_lock:
            _local.update({name: float(value) for name, value in values.items()})
        return
    try:
        client.hset(HASH, mapping={name: float(value) for name, value in values.items()})
    except Exception as error:
        logger.debug("metrics not recorded: %s", error)


def metrics_read() -> dict[str, float]:
    """Every counter and value; {} when Redis cannot be read."""
    client = _client()
    if client is None:
        with _local_lock:
            return dict(_local)
    try:
        return {key.decode(): float(value) for key, value in client.hgetall(HASH).items()}
    except Exception as error:
        logger.warning("metrics unreadable: %s", error)
        return {}


def metrics_reset() -> None:
    """Forget every number (tests)."""
    with _local_lock:
        _local.clear()
    client = _client()
    if client is not None:
        client.delete(HASH)


def grading_time_add(seconds_by_component: dict[str, tuple[int, float]]) -> None:
    """{component: (how many, seconds in all)} spent grading one batch."""
    values = {}
    for component, (count, seconds) in seconds_by_component.items():
        values[f"grading_count|{component}"] = count
        values[f"grading_seconds|{component}"] = seconds
    counters_add(values)


def settlements_add(count: int, lags_seconds: list[float]) -> None:
    """One batch's settlements: how many, and how long each (whose submit time was at hand)
    waited from submit to paid."""
    if not count:
        return
    values = {"settle_count": count, "settle_lag_count": len(lags_seconds), "settle_lag_sum": sum(lags_seconds)}
    for bound in LAG_BUCKETS:
        values[f"settle_lag_le|{bound}"] = sum(1 for lag in lags_seconds if lag <= bound)
    counters_add(values)
