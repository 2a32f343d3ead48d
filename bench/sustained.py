"""Sustained load: submissions at a fixed rate (100/s for 3 minutes by default) through the API
under gunicorn (the intake benchmark's server), scored and paid by two Celery workers, then:

- submit-to-paid: `settled_at - submitted_at` of every submission, from the database (both
  stamped by the application, on this machine), p50 / p95 / max; and sent-to-paid, from the
  moment the client sent the request (its wait in the server's queue included), against
  which the target is held: p95 <= 5 s;
- nothing lost: every 201 is a stored submission, and every stored submission is settled or
  rejected once the queue drains (none waiting, none held); the ledger audit is clean;
- intake against the bare endpoint in the same run, before the sustained phase, on the same
  server (the intake benchmark's closed loop, 8 concurrent requests): ratio >= 0.5.

The generator is open-loop: request i is sent at start + i / rate whatever the answers, at
most MAX_IN_FLIGHT at a time; when the server falls behind, requests leave late and
`achieved_per_second` says so (target >= 0.95 of the rate). Claims are made (not timed)
`CLAIMED_AGO` before the run, and each demonstration was recorded inside its claim's window,
so the quality agent grades it as it would a real one.

    python -m bench.run --only sustained [--quick]
    BENCH_SUSTAINED_RATE=100 BENCH_SUSTAINED_SECONDS=180   (full defaults; quick: 25/s for 30 s)
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import time
from datetime import timedelta

RATE, SECONDS = 100, 180
QUICK_RATE, QUICK_SECONDS = 25, 30
MAX_IN_FLIGHT = 64
WORKERS = 2
DRAIN_SECONDS = 180
CLAIMED_AGO = timedelta(minutes=20)
RATIO_REQUESTS = {"full": 2_000, "quick": 400}
TARGETS = {"p95_submit_to_paid_s": 5.0, "min_ratio": 0.5, "min_rate_share": 0.95}


def _demonstration_in_window(claim) -> dict:
    """The settlement benchmark's demonstration, recorded a minute after the claim."""
    from datetime import datetime

    from bench.settlement import _demonstration

    demonstration = _demonstration(claim.pk, 10)
    shift = (claim.created_at + timedelta(minutes=1)) - datetime.fromisoformat(demonstration["started_at"])
    for key in ("started_at", "ended_at"):
        demonstration[key] = (datetime.fromisoformat(demonstration[key]) + shift).isoformat()
    return demonstration


async def _paced(requests: list[tuple[str, dict, bytes]], *, rate: float, expect: int, sent_at: dict) -> dict:
    """Open loop; `sent_at[url]` gets the wall-clock time each request left."""
    import httpx

    latencies: list[float] = []
    late: list[float] = []
    errors: dict[str, int] = {}
    slots = asyncio.Semaphore(MAX_IN_FLIGHT)
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT, max_keepalive_connections=MAX_IN_FLIGHT)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def send(url, headers, body, due):
            async with slots:
                late.append(max(0.0, time.monotonic() - due))
                sent_at[url] = time.time()
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    problem = None if response.status_code == expect else f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    problem = type(error).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                if problem:
                    errors[problem] = errors.get(problem, 0) + 1

        start = time.monotonic()
        tasks = []
        for index, (url, headers, body) in enumerate(requests):
            due = start + index / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(url, headers, body, due)))
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - start
    ok = len(latencies) - sum(errors.values())
    return {
        "requests": len(latencies),
        "ok": ok,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "achieved_per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1),
        "late_p95_ms": round(_percentile(late, 0.95) * 1000, 1),
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)] if ordered else 0.0


def _load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def run(*, quick: bool = False) -> dict:
    from bench.common import BROKER, WorkerProcess, django_setup, fresh_database, machine
    from bench.intake import CONCURRENCY, PHASE_SECONDS, THREADS, WARMUP, Gunicorn, _load, build
    from bench.intake import WORKERS as GUNICORN_WORKERS

    rate = float(os.environ.get("BENCH_SUSTAINED_RATE", QUICK_RATE if quick else RATE))
    seconds = float(os.environ.get("BENCH_SUSTAINED_SECONDS", QUICK_SECONDS if quick else SECONDS))
    sustained_count = int(rate * seconds)
    ratio_count = RATIO_REQUESTS["quick" if quick else "full"]
    url = fresh_database(os.environ.get("BENCH_SUSTAINED_DB", "forge_bench_sustained"))
    django_setup(url)
    from django.db import connection

    from ledger.audit import ledger_audit
    from pools.models import Submission

    items = build(
        WARMUP + ratio_count + sustained_count, claimed_ago=CLAIMED_AGO, demonstration=_demonstration_in_window
    )
    connection.close()
    load_before = _load_average()
    server = Gunicorn(url, BROKER, name="sustained").start()
    workers, before_ids, sent_at = [], None, {}
    try:
        json_headers = {"Content-Type": "application/json"}
        bare = [(f"{server.base}/bench/bare/", json_headers, body) for _, _, body in items[: WARMUP + ratio_count]]
        intake = [
            (
                f"{server.base}/api/v1/claims/{claim_id}/submission/",
                {**json_headers, "Authorization": f"Token {token}"},
                body,
            )
            for claim_id, token, body in items
        ]
        # 1. Intake against the bare endpoint, closed loop (no worker yet: the same conditions as
        # the intake benchmark).
        asyncio.run(_load(bare[:WARMUP], expect=200, concurrency=CONCURRENCY, seconds=60))
        asyncio.run(_load(intake[:WARMUP], expect=201, concurrency=CONCURRENCY, seconds=60))
        baseline = asyncio.run(_load(bare[WARMUP:], expect=200, concurrency=CONCURRENCY, seconds=PHASE_SECONDS))
        measured = asyncio.run(
            _load(intake[WARMUP : WARMUP + ratio_count], expect=201, concurrency=CONCURRENCY, seconds=PHASE_SECONDS)
        )
        # 2. The workers pay what the first phase left, then the sustained phase starts.
        workers = [
            WorkerProcess(url, f"sustained-{n}", queues="forge,reputation,evidence").start() for n in range(WORKERS)
        ]
        drained = _drain(Submission, seconds=DRAIN_SECONDS)
        before_ids = set(Submission.objects.values_list("pk", flat=True))
        load_start = _load_average()
        sustained = asyncio.run(_paced(intake[WARMUP + ratio_count :], rate=rate, expect=201, sent_at=sent_at))
        load_during = _load_average()
        drain_started = time.monotonic()
        drained = _drain(Submission, seconds=DRAIN_SECONDS) and drained
        drain_seconds = round(time.monotonic() - drain_started, 1)
    finally:
        for worker in workers:
            worker.stop()
        server.stop()

    stored = Submission.objects.count()
    # The sustained phase's rows: those stored after the first phase drained.
    phase_rows = Submission.objects.exclude(pk__in=before_ids or [])
    by_status = _status_counts(phase_rows)
    held = phase_rows.filter(needs_review=True).count()
    lags = _lags_of(phase_rows)
    # The same, from the moment the client sent each request (its wait in the server's queue
    # included): the claim id is in the URL.
    sent_by_claim = {int(url.rstrip("/").split("/")[-2]): at for url, at in sent_at.items()}
    from_send = [
        settled.timestamp() - sent_by_claim[claim_id]
        for claim_id, settled in phase_rows.filter(status__in=["settled", "rejected"]).values_list(
            "claim_id", "settled_at"
        )
        if claim_id in sent_by_claim
    ]
    lags_from_send = {
        "p50_s": round(statistics.median(from_send), 3) if from_send else 0.0,
        "p95_s": round(_percentile(from_send, 0.95), 3) if from_send else 0.0,
        "max_s": round(max(from_send), 3) if from_send else 0.0,
    }
    audit = ledger_audit()
    accepted = sustained["ok"]
    # Lost: accepted (201) but not settled or rejected, or fewer rows than answers.
    lost = accepted - (by_status.get("settled", 0) + by_status.get("rejected", 0))
    ratio = measured["per_second"] / baseline["per_second"] if baseline["per_second"] else 0.0
    met = bool(
        lags_from_send["p95_s"] <= TARGETS["p95_submit_to_paid_s"]
        and lost == 0
        and lags["paid_or_rejected"] == accepted
        and held == 0
        and not sustained["errors"]
        and sustained["achieved_per_second"] >= TARGETS["min_rate_share"] * rate
        and ratio >= TARGETS["min_ratio"]
        and drained
        and audit.ok
    )
    return {
        "benchmark": "sustained_load",
        "machine": machine(),
        "quick": quick,
        "load_average": {"before": load_before, "sustained_start": load_start, "sustained_end": load_during},
        "server": f"gunicorn, {GUNICORN_WORKERS} workers x {THREADS} thread(s), 127.0.0.1",
        "workers": f"{WORKERS} Celery workers (solo pool), queues forge,reputation,evidence",
        "rate_per_second": rate,
        "seconds": seconds,
        "sustained": sustained,
        "submit_to_paid": lags,
        "sent_to_paid": lags_from_send,
        "statuses": by_status,
        "held_for_review": held,
        "lost": lost,
        "drained": drained,
        "drain_seconds": drain_seconds,
        "submissions_stored": stored,
        "bare": baseline,
        "intake": measured,
        "ratio_to_bare": round(ratio, 3),
        "audit_ok": audit.ok,
        "audit_mismatches": audit.mismatches[:5],
        "targets": TARGETS,
        "met": met,
    }


def _status_counts(rows) -> dict[str, int]:
    from django.db.models import Count

    return dict(rows.values("status").order_by().annotate(n=Count("id")).values_list("status", "n"))


def _lags_of(rows) -> dict:
    values = [
        (settled - submitted).total_seconds()
        for settled, submitted in rows.filter(status__in=["settled", "rejected"]).values_list(
            "settled_at", "submitted_at"
        )
    ]
    return {
        "paid_or_rejected": len(values),
        "p50_s": round(statistics.median(values), 3) if values else 0.0,
        "p95_s": round(_percentile(values, 0.95), 3) if values else 0.0,
        "max_s": round(max(values), 3) if values else 0.0,
    }


def _drain(Submission, *, seconds: float) -> bool:
    """Wait until nothing waits to be scored or settled (held rows aside); True if it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not Submission.objects.filter(status__in=["submitted", "scoring"], needs_review=False).exists():
            return True
        time.sleep(0.5)
    return False
