"""Settlement throughput: N submitted demonstrations across many pools and farmers, scored by
the `rules` grader and settled by two real Celery worker processes on PostgreSQL + Redis,
end to end, with a clean ledger audit at the end; pgbench (TPC-B-like, 2 clients) on the same
server in the same run is the baseline.

Set-up (not timed) builds funded factories, claims with their ledger reservations and the
submissions in bulk, through the same ledger entry points the product uses.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.common import BROKER, WorkerProcess, django_setup, fresh_database, machine, pgbench_tps, psql

FACTORIES = 200
FARMERS = 1000
CREATORS = 20
TOKENS = [("USDC", "0.2"), ("CLONES", "25"), ("SOL", "0.002"), ("ETH", "0.0001")]
WORDS = ["budget", "sheet", "income", "expenses", "month", "header", "calendar", "invoice", "report", "folder"]


def _demonstration(variant: int, expected_minutes: int) -> dict:
    minutes = expected_minutes * (0.5 + (variant % 7) / 10)
    started = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    steps = []
    for index in range(20):
        action = ("navigate", "click", "type", "click", "key", "scroll", "click")[index % 7]
        step = {
            "t": round(minutes * 60 * index / 21, 1),
            "action": action,
            "target": f"{WORDS[index % 10]} cell {index}",
        }
        if action == "type":
            step["text"] = f"{WORDS[(index + variant) % 10]} {variant}"
        if action == "navigate":
            step["target"] = f"https://sheets.example.com/{WORDS[variant % 10]}/{variant}"
        steps.append(step)
    return {
        "started_at": started.isoformat(),
        "ended_at": (started + timedelta(minutes=minutes)).isoformat(),
        "steps": steps,
        "final_state": f"Saved the {WORDS[variant % 10]} sheet with month, income and expenses headers ({variant}).",
    }


def build(total: int) -> dict:
    """Create the data set; returns counts. Runs in this process with Django set up."""
    from django.contrib.auth.hashers import make_password

    from accounts.models import User
    from farmers.models import FarmerProfile
    from ledger.models import Account
    from ledger.services import Leg, Posting, transactions_post
    from pools.models import Claim, Factory, Submission, SubmissionSignature
    from pools.services.deposits import deposit_create
    from pools.services.factories import factory_create
    from pools.services.integrity import sequence_fingerprint, signature_bands, similarity_signature
    from referrals.models import Ambassador, Referral

    password = make_password("bench")
    creators = User.objects.bulk_create(
        [User(username=f"bench-creator-{i}", role="creator", password=password) for i in range(CREATORS)]
    )
    farmers = User.objects.bulk_create(
        [User(username=f"bench-farmer-{i}", role="farmer", password=password) for i in range(FARMERS)]
    )
    FarmerProfile.objects.bulk_create([FarmerProfile(user=f) for f in farmers])
    # Referrals on both sides so commissions are exercised: 5 ambassadors, tiers 1..5.
    ambassadors = [
        Ambassador.objects.create(user=farmers[i], code=f"BENCH{i:03d}", tier_override=i + 1) for i in range(5)
    ]
    Referral.objects.bulk_create(
        [Referral(user=farmers[i], ambassador=ambassadors[i % 5]) for i in range(5, FARMERS, 10)]
        + [Referral(user=creators[i], ambassador=ambassadors[i % 5]) for i in range(0, CREATORS, 3)]
    )

    per_factory = max(total // FACTORIES, 1)
    factories = []
    for number in range(FACTORIES):
        symbol, reward = TOKENS[number % len(TOKENS)]
        factory = factory_create(
            creator=creators[number % CREATORS],
            title=f"Budget sheet {number}",
            instructions="Create a spreadsheet named Budget with month, income and expenses headers in the sheet.",
            token=symbol,
            reward=reward,
            expected_minutes=10,
        )
        deposit_create(
            factory=factory, actor=factory.creator, amount=str(per_factory * Decimal(reward)), tx_ref=f"bench-{number}"
        )
        factories.append(Factory.objects.select_related("token").get(pk=factory.pk))

    accounts = Account.objects.in_bulk(
        [pk for f in factories for pk in (f.available_account_id, f.reserved_account_id)]
    )
    variant = itertools.count()
    now = datetime.now(tz=UTC)
    made = 0
    for factory in factories:
        count = min(per_factory, total - made)
        if count <= 0:
            break
        claims = Claim.objects.bulk_create(
            [
                Claim(
                    factory=factory,
                    farmer=farmers[(made + i) % FARMERS],
                    reward=factory.reward,
                    status="submitted",
                    created_at=now - timedelta(minutes=8),
                    expires_at=now + timedelta(hours=1),
                )
                for i in range(count)
            ]
        )
        transactions_post(
            [
                Posting(
                    key=f"claim:{c.pk}",
                    kind="claim",
                    legs=[
                        Leg(accounts[factory.available_account_id], -c.reward),
                        Leg(accounts[factory.reserved_account_id], c.reward),
                    ],
                )
                for c in claims
            ]
        )
        demos = [_demonstration(next(variant), factory.expected_minutes) for _ in claims]
        submissions = Submission.objects.bulk_create(
            [
                Submission(
                    claim=c,
                    factory=factory,
                    farmer_id=c.farmer_id,
                    demonstration=d,
                    sequence_fingerprint=sequence_fingerprint(d),
                    submitted_at=now - timedelta(minutes=1),
                )
                for c, d in zip(claims, demos, strict=True)
            ],
            batch_size=2000,
        )
        # Signed as submission_create signs them, so that the near-duplicate lookup (one GIN
        # query per batch) is part of what is measured.
        signatures = [similarity_signature(d) for d in demos]
        SubmissionSignature.objects.bulk_create(
            [
                SubmissionSignature(submission=submission, signature=signature, bands=signature_bands(signature))
                for submission, signature in zip(submissions, signatures, strict=True)
            ],
            batch_size=2000,
        )
        Factory.objects.filter(pk=factory.pk).update(in_flight_count=count)
        made += count
    return {"submissions": made, "factories": len(factories), "farmers": FARMERS}


def run(total: int) -> dict:
    url = fresh_database("forge_bench_settle")
    django_setup(url)
    import redis
    from django.db import connection

    from ledger.audit import ledger_audit
    from pools.models import Submission

    started = time.monotonic()
    data = build(total)
    connection.close()
    # A live database has planner statistics (autovacuum keeps them); a table bulk-loaded a
    # second ago has none. Measure the former.
    psql("VACUUM ANALYZE", db=url.rsplit("/", 1)[1])
    setup_seconds = time.monotonic() - started

    redis.Redis.from_url(BROKER).flushdb()
    workers = [WorkerProcess(url, f"settle-{i}").start() for i in range(2)]
    try:
        from pools.tasks import submissions_process_pending_task

        t0 = time.monotonic()
        for _ in workers:
            submissions_process_pending_task.delay()
        final = 0
        deadline = t0 + max(600, total / 100)
        while final < data["submissions"] and time.monotonic() < deadline:
            time.sleep(0.25)
            # Counted from the small queue index: counting the settled rows would scan them all
            # four times a second and take CPU from the workers being measured.
            final = data["submissions"] - Submission.objects.filter(status__in=["submitted", "scoring"]).count()
        elapsed = time.monotonic() - t0
        final = Submission.objects.filter(status__in=["settled", "rejected"]).count()
        held = Submission.objects.filter(needs_review=True).count()
        # Reputation is downstream of money, on its own queue: how long a reputation worker
        # then takes to catch up with every farmer flagged by these settlements.
        from farmers.models import FarmerProfile

        reputation_worker = WorkerProcess(url, "reputation", queues="reputation").start()
        workers.append(reputation_worker)
        r0 = time.monotonic()
        while FarmerProfile.objects.filter(needs_refresh=True).exists() and time.monotonic() - r0 < 600:
            time.sleep(0.5)
        reputation_seconds = time.monotonic() - r0
    finally:
        for worker in workers:
            worker.stop()
    workers = workers[:2]

    stages = {"take": 0.0, "score": 0.0, "settle": 0.0, "batches": 0}
    for worker in workers:
        for line in worker.log_path.read_text(errors="replace").splitlines():
            match = re.search(
                r"batch took=(\d+) settled=(\d+) take_ms=([\d.]+) score_ms=([\d.]+) settle_ms=([\d.]+)", line
            )
            if match:
                stages["batches"] += 1
                stages["take"] += float(match.group(3)) / 1000
                stages["score"] += float(match.group(4)) / 1000
                stages["settle"] += float(match.group(5)) / 1000
    busy = stages["take"] + stages["score"] + stages["settle"]
    audit_started = time.monotonic()
    report = ledger_audit()
    audit_seconds = time.monotonic() - audit_started
    tps = pgbench_tps(clients=2, seconds=10)
    rate = final / elapsed if elapsed else 0.0
    return {
        "benchmark": "settlement_throughput",
        "machine": machine(),
        "submissions": data["submissions"],
        "settled_or_rejected": final,
        "held_for_review": held,
        "setup_seconds": round(setup_seconds, 1),
        "seconds": round(elapsed, 2),
        "settlements_per_second": round(rate, 1),
        "pgbench_tps_2_clients": round(tps, 1),
        "ratio_to_pgbench": round(rate / tps, 3) if tps else None,
        "stage_seconds_summed_over_workers": {k: round(v, 2) for k, v in stages.items() if k != "batches"},
        "batches": stages["batches"],
        "reputation_catch_up_seconds": round(reputation_seconds, 1),
        "queue_and_idle_seconds": round(max(elapsed * len(workers) - busy, 0), 2),
        "audit_ok": report.ok,
        "audit_seconds": round(audit_seconds, 2),
        "audit_mismatches": report.mismatches[:5],
        "targets": {"max_seconds": 60, "min_ratio": 1.0},
        "met": bool(final == data["submissions"] and elapsed <= 60 and tps and rate / tps >= 1.0 and report.ok),
    }
