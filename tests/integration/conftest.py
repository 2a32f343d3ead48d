"""A real Celery worker on Redis, consuming tasks against the test database.

Integration tests use `transactional_db` (the worker is another process: it sees only
committed rows). The worker runs `celery -A forge worker` with the test database's name and
a private Redis database, so nothing leaks between runs.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from forge.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
# A port nothing listens on: connections are refused at once.
UNREACHABLE_BROKER_URL = "redis://127.0.0.1:1/0"
# The worker's visibility timeout (see Worker.env): an unacknowledged message is handed out
# again this long after its delivery.
VISIBILITY_TIMEOUT = 5
_worker_ids = itertools.count(1)


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One `celery worker` process; `kill()` sends SIGKILL, `start()` starts a fresh one."""

    def __init__(self, broker_url: str, *, concurrency: int = 1, pool: str = "prefork", extra_env: dict | None = None):
        self.broker_url = broker_url
        self.concurrency = concurrency
        self.pool = pool
        self.extra_env = extra_env or {}
        self.process: subprocess.Popen | None = None
        self.log_offset = 0
        # One log per worker, so that readiness and task counts are read from its own lines.
        self.log_path = ROOT / "test-artifacts" / f"celery-worker-{os.getpid()}-{next(_worker_ids)}.log"
        self.log_path.parent.mkdir(exist_ok=True)

    def env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "forge.settings.test",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
            # A scored-but-unsettled submission is picked up again this soon (production: 30 s).
            "FORGE_RESETTLE_AFTER_SECONDS": "1",
            **self.extra_env,
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def succeeded(self, task_name: str) -> int:
        """How many `task_name` tasks this worker has finished without an error."""
        return sum(1 for line in self.log().splitlines() if f"Task {task_name}[" in line and " succeeded in " in line)

    def start(self) -> Worker:
        # A restarted worker appends to the same log: readiness is read after this offset.
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "forge",
                "worker",
                "--loglevel=INFO",
                f"--pool={self.pool}",
                f"--concurrency={self.concurrency}",
                "-Q",
                settings.FORGE_WORKER_QUEUES,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"test-{os.getpid()}-{time.time_ns()}@%h",
            ],
            cwd=ROOT,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early; see {self.log_path}")
            if b" ready." in self.log_path.read_bytes()[self.log_offset :]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready after {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children): no chance to clean up."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def broker_url():
    # The broker's Redis database is the tests' own (CI: a fresh Redis; developers running
    # several suites at once give each its own database number).
    return os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL")


def _reset_connections() -> None:
    """Drop the app's cached connections so the next publish uses the current broker_url."""
    # Not force_close_all(): kombu keeps pools in a global registry and would hand the
    # closed one back for the same URL.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def publish_to_broker(broker_url, monkeypatch):
    """Make `.delay()` in the test process publish to Redis instead of running in-process."""
    import redis

    # Celery reads CELERY_BROKER_URL from the environment before its own configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    redis.Redis.from_url(broker_url).flushdb()
    previous = (celery_app.conf.task_always_eager, celery_app.conf.broker_url)
    celery_app.conf.task_always_eager = False
    celery_app.conf.broker_url = broker_url
    _reset_connections()
    yield broker_url
    celery_app.conf.task_always_eager, celery_app.conf.broker_url = previous
    _reset_connections()


@pytest.fixture
def start_worker(transactional_db, django_db_serialized_rollback, publish_to_broker):
    """Start workers with `start_worker(concurrency=..., extra_env={...})`; all are stopped
    (before the database is flushed) at the end of the test.

    Serialized rollback: the flush after each test also empties what the migrations seeded
    (tokens, commission tiers); this puts it back for the next test.
    """
    workers: list[Worker] = []

    def start(**options) -> Worker:
        worker = Worker(publish_to_broker, **options)
        workers.append(worker)
        return worker.start()

    yield start
    # Cold shutdowns (SIGQUIT), all at once: a test ends after waiting for the work it checks,
    # and a warm shutdown takes seconds per worker. Anything still running rolls back.
    for worker in workers:
        if worker.process and worker.process.poll() is None:
            os.killpg(worker.process.pid, signal.SIGQUIT)
    for worker in workers:
        if worker.process is None:
            continue
        try:
            worker.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()


@pytest.fixture
def celery_worker_process(start_worker):
    """A running worker; tests may kill() and start() it again."""
    return start_worker()


@contextmanager
def broker_unreachable():
    """Point this process's publisher at a broker that refuses connections, failing fast
    (one quick retry), then restore the real broker and fresh connections."""
    conf = celery_app.conf
    saved = {name: conf[name] for name in ("broker_url", "task_publish_retry_policy", "broker_connection_timeout")}
    saved_env = os.environ.get("CELERY_BROKER_URL")
    os.environ["CELERY_BROKER_URL"] = UNREACHABLE_BROKER_URL
    conf.broker_url = UNREACHABLE_BROKER_URL
    conf.broker_connection_timeout = 1
    conf.task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}
    _reset_connections()
    try:
        yield
    finally:
        for name, value in saved.items():
            conf[name] = value
        if saved_env is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = saved_env
        _reset_connections()


def broker_idle(broker_url: str) -> bool:
    """No message waiting in the queue and none delivered but unacknowledged (acks_late: a
    task's message is acknowledged when it finishes)."""
    import redis

    client = redis.Redis.from_url(broker_url)
    return client.llen(settings.CELERY_TASK_DEFAULT_QUEUE) == 0 and client.hlen("unacked") == 0


def wait_until_redeliverable(broker_url: str) -> None:
    """Sleep until every unacknowledged message is past the visibility timeout, so that a
    worker starting now hands it out again at once (kombu restores them when it starts)."""
    import redis

    delivered = redis.Redis.from_url(broker_url).zrange("unacked_index", 0, -1, withscores=True)
    latest = max((score for _, score in delivered), default=0)
    time.sleep(max(0.0, latest + VISIBILITY_TIMEOUT + 0.5 - time.time()))


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
