"""API intake: demonstrations posted through POST /api/v1/claims/{id}/submission/ under
gunicorn (2 sync workers, forge.settings.bench, 127.0.0.1 only) by a bounded asyncio + httpx
load generator, against a bare Django JSON endpoint (bench/bare/, routed only when
settings.BENCH_BARE_ENDPOINT) in the same run, with the same body size and concurrency.

Set-up (not timed): funded factories, open claims reserved in the ledger (bulk), an API token
per farmer, and one valid demonstration body per claim. Every request count and the phase
duration are bounded; the generator talks to 127.0.0.1 only. Afterwards every accepted
submission is in the database, waiting to be scored, and the ledger audit is clean.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import timedelta

FARMERS = 200
WORKERS = int(os.environ.get("BENCH_GUNICORN_WORKERS", "2"))
# Threads per worker (gunicorn's gthread worker when > 1): a submission spends most of its time
# waiting for PostgreSQL's commit, which a thread can overlap with another request's Python.
THREADS = int(os.environ.get("BENCH_GUNICORN_THREADS", "1"))
CONCURRENCY = 8
FULL = {"intake": 4_000, "bare": 4_000}
QUICK = {"intake": 800, "bare": 800}
WARMUP = 40
PHASE_SECONDS = 90  # a phase stops by itself after this long, finished or not
TARGET_RATIO = 0.5


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def build(claims: int, *, claimed_ago: timedelta = timedelta(0), demonstration=None) -> list[tuple[int, str, bytes]]:
    """(claim id, API token, request body) for `claims` open claims spread over FARMERS
    farmers (one open claim per farmer and factory, as the product allows). The claims were
    made `claimed_ago`; `demonstration(claim)` makes each body's demonstration (default: the
    settlement benchmark's, with fixed dates)."""
    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from accounts.models import User
    from accounts.services import api_token_for
    from bench.settlement import _demonstration
    from ledger.services import Leg, Posting, transactions_post
    from pools.models import Claim, Factory
    from pools.services.deposits import deposit_create
    from pools.services.factories import factory_create

    password = make_password("bench")
    creator = User.objects.create(username="bench-intake-creator", role="creator", password=password)
    farmers = User.objects.bulk_create(
        [User(username=f"bench-intake-farmer-{i}", role="farmer", password=password) for i in range(FARMERS)]
    )
    per_factory = FARMERS
    factories = []
    for number in range(math.ceil(claims / per_factory)):
        factory = factory_create(
            creator=creator,
            title=f"Budget sheet {number}",
            instructions="Create a spreadsheet named Budget with month, income and expenses headers in the sheet.",
            token="USDC",
            reward="0.2",
            expected_minutes=10,
        )
        deposit_create(
            factory=factory, actor=creator, amount=str(Decimal("0.2") * per_factory), tx_ref=f"bench-intake-{number}"
        )
        factories.append(Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk))
    now = timezone.now()
    made = []
    with transaction.atomic():
        for index, factory in enumerate(factories):
            count = min(per_factory, claims - index * per_factory)
            rows = Claim.objects.bulk_create(
                [
                    Claim(
                        factory=factory,
                        farmer=farmers[i],
                        reward=factory.reward,
                        created_at=now - claimed_ago,
                        expires_at=now + timedelta(hours=6),
                    )
                    for i in range(count)
                ]
            )
            transactions_post(
                [
                    Posting(
                        key=f"claim:{c.pk}",
                        kind="claim",
                        legs=[Leg(factory.available_account, -c.reward), Leg(factory.reserved_account, c.reward)],
                        memo=f"Claim {c.pk}",
                    )
                    for c in rows
                ]
            )
            Factory.objects.filter(pk=factory.pk).update(in_flight_count=F("in_flight_count") + count)
            made.extend(rows)
    tokens = {farmer.pk: api_token_for(farmer) for farmer in farmers}
    make = demonstration or (lambda claim: _demonstration(claim.pk, 10))
    return [(claim.pk, tokens[claim.farmer_id], json.dumps({"demonstration": make(claim)}).encode()) for claim in made]


class Gunicorn:
    def __init__(self, database_url: str, broker: str, *, name: str = "intake"):
        self.name = name
        self.port = _free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": broker,
            "DJANGO_SETTINGS_MODULE": "forge.settings.bench",  # forge/wsgi.py would pick production
            "LOG_LEVEL": "WARNING",
        }
        self.process = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Gunicorn:
        from bench.common import RESULTS, ROOT

        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log = (RESULTS / f"gunicorn-{self.name}.log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "forge.wsgi",
                "-w",
                str(WORKERS),
                "--threads",
                str(THREADS),
                "-b",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see bench/results/gunicorn-{self.name}.log")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer /healthz within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


async def _load(requests: list[tuple[str, dict, bytes]], *, expect: int, concurrency: int, seconds: float) -> dict:
    """POST every (url, headers, body) once, `concurrency` at a time, for at most `seconds`."""
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    pending = iter(requests)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:

        async def worker() -> None:
            for url, headers, body in pending:
                if time.monotonic() > deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await client.post(url, content=body, headers=headers)
                    problem = None if response.status_code == expect else f"HTTP {response.status_code}"
                except httpx.HTTPError as error:
                    problem = type(error).__name__
                latencies.append((time.perf_counter() - started) * 1000)
                if problem:
                    errors[problem] = errors.get(problem, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    done = len(latencies)
    ok = done - sum(errors.values())
    return {
        "requests": done,
        "ok": ok,
        "errors": errors,
        "seconds": round(elapsed, 2),
        "per_second": round(ok / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(_percentile(latencies, 0.99), 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def run(*, quick: bool = False) -> dict:
    from bench.common import BROKER, django_setup, fresh_database, machine

    counts = QUICK if quick else FULL
    url = fresh_database("forge_bench_intake")
    django_setup(url)
    from django.db import connection

    from ledger.audit import ledger_audit
    from pools.models import Submission

    items = build(counts["intake"] + WARMUP)
    connection.close()
    body_size = len(items[0][2])
    server = Gunicorn(url, BROKER).start()
    try:
        json_headers = {"Content-Type": "application/json"}
        bare = [(f"{server.base}/bench/bare/", json_headers, body) for _, _, body in items]
        intake = [
            (
                f"{server.base}/api/v1/claims/{claim_id}/submission/",
                {**json_headers, "Authorization": f"Token {token}"},
                body,
            )
            for claim_id, token, body in items
        ]
        # Warm-up: both endpoints, every worker, before anything is timed.
        warm = {
            "bare": asyncio.run(_load(bare[:WARMUP], expect=200, concurrency=CONCURRENCY, seconds=60)),
            "intake": asyncio.run(_load(intake[:WARMUP], expect=201, concurrency=CONCURRENCY, seconds=60)),
        }
        timed_bare = (bare * math.ceil(counts["bare"] / len(bare)))[: counts["bare"]]
        baseline = asyncio.run(_load(timed_bare, expect=200, concurrency=CONCURRENCY, seconds=PHASE_SECONDS))
        measured = asyncio.run(_load(intake[WARMUP:], expect=201, concurrency=CONCURRENCY, seconds=PHASE_SECONDS))
    finally:
        server.stop()

    stored = Submission.objects.count()
    waiting = Submission.objects.filter(status=Submission.Status.SUBMITTED).count()
    audit = ledger_audit()
    _purge_wake_ups()
    ratio = measured["per_second"] / baseline["per_second"] if baseline["per_second"] else 0.0
    accepted = warm["intake"]["ok"] + measured["ok"]
    return {
        "benchmark": "api_intake",
        "machine": machine(),
        "quick": quick,
        "server": f"gunicorn, {WORKERS} workers x {THREADS} thread(s), 127.0.0.1",
        "load_generator": f"asyncio + httpx, {CONCURRENCY} concurrent requests, same process count for both phases",
        "body_bytes": body_size,
        "warmup": warm,
        "bare": baseline,
        "intake": measured,
        "ratio_to_bare": round(ratio, 3),
        "submissions_stored": stored,
        "submissions_accepted": accepted,
        "submissions_waiting": waiting,
        "audit_ok": audit.ok,
        "audit_mismatches": audit.mismatches[:5],
        "targets": {"min_ratio": TARGET_RATIO, "errors": 0},
        "met": bool(
            ratio >= TARGET_RATIO
            and not measured["errors"]
            and not baseline["errors"]
            and measured["ok"] == counts["intake"]
            and stored == accepted
            and audit.ok
        ),
    }


def _purge_wake_ups() -> None:
    """The API enqueued coalesced wake-ups for a batch processor that this benchmark does not
    run; drop them from the benchmark's own broker."""
    try:
        from forge.celery import app

        app.control.purge()
    except Exception:  # a broker that is gone has nothing to purge
        pass
