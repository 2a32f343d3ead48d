"""Work per submission on the sustained-load path (issue 20), counted rather than timed, so it
can be measured on a busy machine: SQL statements, cache (Redis) calls and broker messages,
and this process's CPU time, for

- the submit path: POST /api/v1/claims/{id}/submission/ through Django's full request handler
  (middleware, DRF, token authentication, throttle), one request at a time;
- the worker path: `process_batch` (take, grade with the rules grader, settle) on what the
  submit phase stored, in batches of each size of BATCH_SIZES, as a worker under a steady
  stream takes them (the batch size is what arrived since the last batch).

PostgreSQL's own CPU is not in the CPU figure; the statement count stands for it.

    python -m bench.work [--submissions 300] [--profile submit|settle]   (cProfile on CPU time)

Database `forge_bench_work` (`BENCH_WORK_DB`), dropped and created afresh. Not part of
`make bench`: it measures no target, it is the ruler for changes to the two paths.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import time
from contextlib import contextmanager

BATCH_SIZES = (1, 5, 25, 100)


SENT = {"messages": 0}


def _hold_messages() -> None:
    """Count the tasks the two paths send instead of publishing them: no worker consumes them
    here, and they must not wait on the broker for the next benchmark's workers."""
    from celery.app.task import Task

    def counted(*args, **kwargs):
        SENT["messages"] += 1

    Task.apply_async = counted


@contextmanager
def _counting():
    """Counts SQL statements, cache calls and broker messages sent inside the block."""
    from django.core.cache import caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {"cache": 0}
    messages = SENT["messages"]
    cache = caches["default"]

    def counted(function):
        def wrapper(*args, **kwargs):
            counts["cache"] += 1
            return function(*args, **kwargs)

        return wrapper

    names = ("get", "set", "add", "delete", "incr", "get_many", "set_many")
    for name in names:  # an instance attribute over the class's method, removed afterwards
        setattr(cache, name, counted(getattr(cache, name)))
    try:
        with CaptureQueriesContext(connection) as queries:
            yield counts
        counts["sql"] = len(queries)
        counts["statements"] = [query["sql"][:90] for query in queries]
        counts["messages"] = SENT["messages"] - messages
    finally:
        for name in names:
            delattr(cache, name)


def _submit_all(items, *, profile: cProfile.Profile | None) -> dict:
    from django.test import Client

    client = Client()
    warm = 10
    for claim_id, token, body in items[:warm]:  # imports, statement caches, the first connection
        client.post(
            f"/api/v1/claims/{claim_id}/submission/",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )
    measured = items[warm:]
    cpu = time.process_time()
    if profile:
        profile.enable()
    with _counting() as counts:
        for claim_id, token, body in measured:
            response = client.post(
                f"/api/v1/claims/{claim_id}/submission/",
                body,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Token {token}",
            )
            assert response.status_code == 201, response.content
    if profile:
        profile.disable()
    cpu = time.process_time() - cpu
    n = len(measured)
    return {
        "requests": n,
        "sql_per_submit": counts["sql"] / n,
        "cache_calls_per_submit": counts["cache"] / n,
        "messages_per_submit": counts["messages"] / n,
        "cpu_ms_per_submit": round(cpu * 1000 / n, 3),
        "statements_of_one": counts["statements"][: counts["sql"] // n],
    }


def _settle_in_batches(size: int, rounds: int, *, profile: cProfile.Profile | None) -> dict:
    from pools.models import Submission
    from pools.services.batch import process_batch

    taken = sql = cache = messages = 0
    cpu = 0.0
    statements = []
    for _ in range(rounds):
        started = time.process_time()
        if profile:
            profile.enable()
        with _counting() as counts:
            got = process_batch(limit=size)
        if profile:
            profile.disable()
        cpu += time.process_time() - started
        if not got:
            break
        taken += got
        sql += counts["sql"]
        cache += counts["cache"]
        messages += counts["messages"]
        statements = statements or counts["statements"]
    settled = Submission.objects.filter(status__in=["settled", "rejected"]).count()
    return {
        "batch_size": size,
        "batches": rounds,
        "submissions": taken,
        "sql_per_batch": round(sql / rounds, 2),
        "sql_per_settled": round(sql / taken, 2) if taken else None,
        "cache_calls_per_batch": round(cache / rounds, 2),
        "messages_per_batch": round(messages / rounds, 2),
        "cpu_ms_per_batch": round(cpu * 1000 / rounds, 3),
        "cpu_ms_per_settled": round(cpu * 1000 / taken, 3) if taken else None,
        "settled_so_far": settled,
        "statements_of_one_batch": statements,
    }


def run(*, submissions: int, profile: str = "") -> dict:
    from bench.common import django_setup, fresh_database

    url = fresh_database(os.environ.get("BENCH_WORK_DB", "forge_bench_work"))
    django_setup(url)
    from django.conf import settings

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    _hold_messages()
    from bench.intake import build
    from bench.sustained import CLAIMED_AGO, _demonstration_in_window

    rounds = {size: max(1, min(20, 200 // size)) for size in BATCH_SIZES}
    needed = max(submissions, sum(size * n for size, n in rounds.items())) + 10
    items = build(needed, claimed_ago=CLAIMED_AGO, demonstration=_demonstration_in_window)
    profiles = {name: cProfile.Profile(time.process_time) for name in ("submit", "settle") if name == profile}
    submit = _submit_all(items, profile=profiles.get("submit"))
    from pools.services.batch import process_batch

    process_batch(limit=5)  # warm the worker path (imports, statement caches)
    settle = [_settle_in_batches(size, n, profile=profiles.get("settle")) for size, n in rounds.items()]
    from ledger.audit import ledger_audit

    for name, stats in profiles.items():
        stats.dump_stats(f"/tmp/bench-work-{name}.prof")
        pstats.Stats(stats).sort_stats("cumulative").print_stats(70)
    return {"submit": submit, "settle": settle, "audit_ok": ledger_audit().ok}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--profile", choices=["submit", "settle"], default="")
    args = parser.parse_args()
    print(json.dumps(run(submissions=args.submissions, profile=args.profile), indent=2))


if __name__ == "__main__":
    main()
