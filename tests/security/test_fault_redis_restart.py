"""Fault drill, run in CI: the broker (Redis) is killed and restarted, empty, while a worker is in
the middle of a settlement. Nothing is lost or paid twice, the worker reconnects by itself, and
the ledger audit is clean.

The drill uses its own `redis-server` on a free port (no persistence: a restart loses every
queued and unacknowledged message, the worst case), so the shared Redis of other test runs is
never touched. To hold the worker at a known point mid-settlement, the test locks the farmer's
balance row from its own connection (as tests/integration/test_worker_crash.py does).
See docs/operations.md, "Fault drills".
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from forge.celery import app as celery_app
from ledger.models import Account, Transaction
from ledger.services import account_get
from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create
from pools.tasks import submissions_sweep_task
from tests.factories import CreatorFactory, FarmerFactory, demonstration
from tests.integration.conftest import Worker, _database_url, _reset_connections, wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server (CI installs it)"),
]

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A throwaway redis-server: no snapshots, no append-only file."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = ROOT / "test-artifacts" / f"drill-redis-{os.getpid()}-{self.port}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(self.ping, timeout=15, message="redis-server to answer")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, not a shutdown; everything in memory is gone."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def private_redis():
    server = RedisServer()
    server.start()
    yield server
    server.kill()


@pytest.fixture
def drill_worker(transactional_db, django_db_serialized_rollback, private_redis, monkeypatch):
    """This process publishes to the private Redis; one worker consumes from it."""
    monkeypatch.setenv("CELERY_BROKER_URL", private_redis.url)
    previous = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = private_redis.url
    _reset_connections()
    worker = Worker(
        private_redis.url,
        extra_env={"FORGE_SWEEP_AFTER_SECONDS": "1"},
    )
    worker.start()
    yield worker
    if worker.process and worker.process.poll() is None:
        os.killpg(worker.process.pid, signal.SIGQUIT)
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = previous
    _reset_connections()


def backends_blocked_by(pid: int) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [pid])
        return [row[0] for row in cursor.fetchall()]


def settled(submission_id: int) -> Submission | None:
    return Submission.objects.filter(pk=submission_id, status__in=["settled", "rejected"]).first()


def test_redis_restarted_mid_settlement_loses_nothing_and_pays_once(drill_worker, private_redis):
    factory = funded_factory(CreatorFactory(), reward="0.2", deposit="2")
    # The blocked settlement holds its factory's row lock (inserting a submission there would
    # wait for it), so the submissions made during the drill go to another factory.
    other = funded_factory(CreatorFactory(), reward="0.2", deposit="2")
    farmers = [FarmerFactory() for _ in range(3)]
    claims = [
        claim_create(factory=factory if index == 0 else other, farmer=farmer) for index, farmer in enumerate(farmers)
    ]
    first_balance = account_get(kind=Account.Kind.USER_BALANCE, holder=f"user:{farmers[0].pk}", token=factory.token)
    worker_pid = drill_worker.process.pid
    timings = {}

    blocker = psycopg.connect(_database_url())
    try:
        with blocker.cursor() as cursor:  # holds the first farmer's balance row
            cursor.execute(f"SELECT id FROM {Account._meta.db_table} WHERE id = %s FOR UPDATE", [first_balance.pk])
            cursor.execute("SELECT pg_backend_pid()")  # the server's (through PgBouncer too)
            blocker_pid = cursor.fetchone()[0]
        first = submission_create(claim_id=claims[0].pk, farmer=farmers[0], demonstration=demonstration())
        wait_for(
            lambda: backends_blocked_by(blocker_pid),
            message="the worker's settlement to wait for the farmer's balance",
        )

        # The broker dies while the worker is mid-settlement; a farmer submits meanwhile.
        private_redis.kill()
        started = time.monotonic()
        second = submission_create(claim_id=claims[1].pk, farmer=farmers[1], demonstration=demonstration())
        timings["submit while Redis is down (s)"] = round(time.monotonic() - started, 2)
        assert Submission.objects.get(pk=second.pk).status == Submission.Status.SUBMITTED

        # Redis comes back empty: every queued or unacknowledged message is gone.
        private_redis.start()
        restarted = time.monotonic()
    finally:
        blocker.rollback()  # the worker's settlement goes on
        blocker.close()

    assert wait_for(lambda: settled(first.pk), timeout=60, message="the blocked settlement to finish")

    # What beat does every minute: the sweeper finds the submission whose message was lost.
    submissions_sweep_task.delay()
    assert wait_for(lambda: settled(second.pk), timeout=60, message="the swept submission to settle")
    timings["Redis back to swept submission settled (s)"] = round(time.monotonic() - restarted, 2)
    # New work after the restart flows through the same (reconnected) worker.
    third = submission_create(claim_id=claims[2].pk, farmer=farmers[2], demonstration=demonstration())
    assert wait_for(lambda: settled(third.pk), timeout=60, message="new work to settle after the restart")

    assert drill_worker.process.poll() is None and drill_worker.process.pid == worker_pid  # never restarted
    for submission in (first, second, third):
        assert Transaction.objects.filter(idempotency_key=f"settle:{submission.pk}").count() == 1
    paid = Submission.objects.filter(pk__in=[first.pk, second.pk, third.pk])
    for submission in paid:
        account = account_get(
            kind=Account.Kind.USER_BALANCE, holder=f"user:{submission.farmer_id}", token=factory.token
        )
        assert account.balance == (submission.farmer_reward or 0)
    assert_audit_clean()
    print(f"\ndrill timings: {timings}")
