"""Claim contention: 50 farmers claim concurrently from one pool until it is empty, through
pools.services.claim_create (threads, each with its own database connection).

The pool holds K rewards plus a remainder smaller than one reward, so exactly K claims must
succeed: no oversell (the reserved balance is K rewards, the available one the remainder),
and the ledger audit is clean. A farmer holds one open claim per factory, so each of the 50
concurrent claimers moves on to its next farmer identity after a successful claim; each
thread stops at its first refusal (the pool cannot cover another reward).
"""

from __future__ import annotations

import statistics
import threading
import time

CLAIMERS = 50
FULL_REWARDS = 2_000
QUICK_REWARDS = 500
REWARD = "0.2"  # USDC
REMAINDER = "0.1"  # less than one reward


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def run(*, quick: bool = False) -> dict:
    from bench.common import django_setup, fresh_database, machine

    rewards = QUICK_REWARDS if quick else FULL_REWARDS
    url = fresh_database("forge_bench_claims")
    django_setup(url)

    from decimal import Decimal

    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from accounts.models import User
    from core.exceptions import Conflict
    from ledger.audit import ledger_audit
    from pools.models import Claim, Factory
    from pools.services.claims import claim_create
    from pools.services.deposits import deposit_create
    from pools.services.factories import factory_create

    password = make_password("bench")
    creator = User.objects.create(username="bench-claims-creator", role="creator", password=password)
    factory = factory_create(
        creator=creator,
        title="Contended pool",
        instructions="Create a spreadsheet named Budget with month, income and expenses headers.",
        token="USDC",
        reward=REWARD,
        expected_minutes=10,
    )
    deposit_create(
        factory=factory,
        actor=creator,
        amount=str(Decimal(REWARD) * rewards + Decimal(REMAINDER)),
        tx_ref="bench-claims-deposit",
    )
    factory = Factory.objects.select_related("token").get(pk=factory.pk)
    per_claimer = 4 * (rewards // CLAIMERS) + 2  # more identities than any one thread can use
    farmers = User.objects.bulk_create(
        [
            User(username=f"bench-claimer-{i}-{j}", role="farmer", password=password)
            for i in range(CLAIMERS)
            for j in range(per_claimer)
        ]
    )
    identities = [farmers[i * per_claimer : (i + 1) * per_claimer] for i in range(CLAIMERS)]
    connection.close()

    barrier = threading.Barrier(CLAIMERS + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    refusals: dict[str, int] = {}
    errors: list[str] = []
    made = [0] * CLAIMERS

    def claimer(index: int) -> None:
        try:
            barrier.wait()
            for farmer in identities[index]:
                started = time.perf_counter()
                try:
                    claim_create(factory=factory, farmer=farmer)
                except Conflict as refused:
                    with lock:
                        refusals[refused.message] = refusals.get(refused.message, 0) + 1
                    return
                elapsed = time.perf_counter() - started
                made[index] += 1
                with lock:
                    latencies.append(elapsed * 1000)
        except Exception as error:  # reported in the result, never swallowed
            with lock:
                errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    stuck = sum(thread.is_alive() for thread in threads)

    factory = Factory.objects.select_related("available_account", "reserved_account").get(pk=factory.pk)
    claims = Claim.objects.filter(factory=factory).count()
    unit = 10**factory.token.decimals
    reward_units = int(Decimal(REWARD) * unit)
    audit = ledger_audit()
    exact = (
        claims == rewards
        and sum(made) == rewards
        and factory.reserved_account.balance == rewards * reward_units
        and factory.available_account.balance == int(Decimal(REMAINDER) * unit)
        and factory.in_flight_count == rewards
    )
    rate = claims / elapsed if elapsed else 0.0
    return {
        "benchmark": "claim_contention",
        "machine": machine(),
        "quick": quick,
        "claimers": CLAIMERS,
        "pool_pays": rewards,
        "claims": claims,
        "oversold": max(claims - rewards, 0),
        "refusals": refusals,
        "errors": errors[:5],
        "stuck_threads": stuck,
        "seconds": round(elapsed, 2),
        "claims_per_second": round(rate, 1),
        "claim_latency_ms": {
            "p50": round(statistics.median(latencies), 1) if latencies else None,
            "p95": round(_percentile(latencies, 0.95), 1),
            "p99": round(_percentile(latencies, 0.99), 1),
        },
        "reserved_units": int(factory.reserved_account.balance),
        "available_units": int(factory.available_account.balance),
        "audit_ok": audit.ok,
        "audit_mismatches": audit.mismatches[:5],
        "targets": {"exact_claims": rewards, "oversold": 0},
        "met": bool(exact and audit.ok and not errors and not stuck),
    }
