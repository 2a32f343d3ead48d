"""Fault drill, by hand only (never in CI: it restarts the machine's PostgreSQL cluster, which
every other database on it shares). See docs/operations.md, "Fault drills".

PostgreSQL is restarted while Celery workers settle a backlog of submissions in batches. Then
the drill plays beat (the sweeper every few seconds) until everything is settled, and checks:
every submission settled exactly once (one `settle:<id>` transaction each), the ledger audit
is clean, and the workers recovered by themselves (same processes, never restarted).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/forge_drill \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/11 \\
    .venv/bin/python -m tests.security.drills.postgres_restart --submissions 400 --workers 2

The database named in DATABASE_URL is dropped and created again: give it a scratch name.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def sh(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def scratch_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    assert name not in ("postgres", "template0", "template1"), "give the drill a scratch database"
    sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'DROP DATABASE IF EXISTS "{name}"')
    sh("psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", f'CREATE DATABASE "{name}"')
    sh(sys.executable, "manage.py", "migrate", "--noinput", cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--submissions", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--restart-after", type=float, default=1.0, help="seconds after the workers start")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--no-restart", action="store_true", help="a rehearsal: everything but the restart")
    options = parser.parse_args()

    os.environ["DJANGO_SETTINGS_MODULE"] = "forge.settings.test"
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ.setdefault("CONN_MAX_AGE", "60")  # persistent connections: CONN_HEALTH_CHECKS matter
    database_url, broker_url = os.environ["DATABASE_URL"], os.environ["CELERY_BROKER_URL"]
    scratch_database(database_url)

    import django

    django.setup()
    import redis
    from django.db import close_old_connections, connection

    from ledger.audit import ledger_audit
    from ledger.models import Transaction
    from pools.models import Submission
    from pools.services.claims import claim_create
    from pools.services.submissions import submission_create
    from pools.tasks import submissions_process_pending_task, submissions_sweep_task
    from tests.factories import CreatorFactory, FarmerFactory, demonstration
    from tests.money_helpers import funded_factory

    redis.Redis.from_url(broker_url).flushdb()
    count = options.submissions
    print(f"seeding {count} submissions ...", flush=True)
    deposit = str(Decimal("0.01") * count + 1)
    factory = funded_factory(CreatorFactory(), reward="0.01", deposit=deposit, expected_minutes=5)
    ids = []
    for index in range(count):
        farmer = FarmerFactory()
        claim = claim_create(factory=factory, farmer=farmer)
        ids.append(submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demonstration(variant=index)).pk)
    redis.Redis.from_url(broker_url).flushdb()  # the seeding's wake-ups: the workers start from a quiet queue

    env = {
        **os.environ,
        "FORGE_BATCH_SIZE": str(options.batch_size),
        "FORGE_SWEEP_AFTER_SECONDS": "1",
        "FORGE_RESETTLE_AFTER_SECONDS": "2",
    }
    logs = [ROOT / "test-artifacts" / f"drill-pg-worker-{index}.log" for index in range(options.workers)]
    logs[0].parent.mkdir(exist_ok=True)
    workers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "celery", "-A", "forge", "worker", "--loglevel=INFO", "--pool=solo"),
                *(
                    "-Q",
                    "forge",
                    "-n",
                    f"drill-{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ),
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        for index, log in enumerate(logs)
    ]
    try:
        while not all(b" ready." in log.read_bytes() for log in logs):
            time.sleep(0.2)
        started = time.monotonic()
        for _ in range(options.workers):
            submissions_process_pending_task.delay()
        time.sleep(options.restart_after)
        done_before = Submission.objects.filter(pk__in=ids, status__in=["settled", "rejected"]).count()
        print(f"{done_before}/{count} settled when PostgreSQL restarts", flush=True)

        cluster = sorted(os.listdir("/etc/postgresql"))[-1]
        restart_started = time.monotonic()
        if not options.no_restart:
            sh("pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart")
        while subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"]).returncode != 0:
            time.sleep(0.1)
        back = time.monotonic()
        print(f"PostgreSQL restarted in {back - restart_started:.1f} s", flush=True)

        # Play beat: the sweeper every 5 s until everything is settled.
        close_old_connections()
        settled = 0
        while time.monotonic() - back < options.timeout:
            close_old_connections()
            settled = Submission.objects.filter(pk__in=ids, status__in=["settled", "rejected"]).count()
            if settled == count:
                break
            submissions_sweep_task.delay()
            time.sleep(5)
        recovered = time.monotonic() - back
        print(f"{settled}/{count} settled {recovered:.1f} s after PostgreSQL was back", flush=True)

        settle_keys = Transaction.objects.filter(idempotency_key__startswith="settle:").values_list(
            "idempotency_key", flat=True
        )
        per_submission = dict.fromkeys((f"settle:{pk}" for pk in ids), 0)
        for key in settle_keys:
            if key in per_submission:
                per_submission[key] += 1
        report = ledger_audit()
        alive = [worker.poll() is None for worker in workers]
        log_text = "".join(log.read_text(errors="replace") for log in logs)
        print(
            "results:",
            {
                "submissions": count,
                "settled": settled,
                "settled_twice": sum(1 for n in per_submission.values() if n > 1),
                "never_settled": sum(1 for n in per_submission.values() if n == 0),
                "audit_ok": report.ok,
                "workers_alive": alive,
                "task_retries": log_text.count(" retry: "),
                "task_failures": log_text.count("raised unexpected"),
                "connection_errors_logged": log_text.count("OperationalError") + log_text.count("InterfaceError"),
                "seconds_total": round(time.monotonic() - started, 1),
            },
            flush=True,
        )
        connection.close()
        ok = settled == count and report.ok and all(alive) and all(n == 1 for n in per_submission.values())
        return 0 if ok else 1
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()


if __name__ == "__main__":
    sys.exit(main())
