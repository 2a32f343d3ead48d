"""A real Celery worker on Redis, consuming tasks against the test database.

Integration tests use `transactional_db` (the worker is another process: it sees only
committed rows). The worker runs `celery -A forge worker` with the test database's name and
a private Redis database, so nothing leaks between runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from forge.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One `celery worker` process; `kill()` sends SIGKILL, `start()` starts a fresh one."""

    def __init__(self, broker_url: str, *, concurrency: int = 1, pool: str = "prefork"):
        self.broker_url = broker_url
        self.concurrency = concurrency
        self.pool = pool
        self.process: subprocess.Popen | None = None
        self.log_path = ROOT / "test-artifacts" / f"celery-worker-{os.getpid()}.log"
        self.log_path.parent.mkdir(exist_ok=True)

    def env(self) -> dict:
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "forge.settings.test",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": self.broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_VISIBILITY_TIMEOUT": "5",
        }

    def start(self) -> Worker:
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
                settings.CELERY_TASK_DEFAULT_QUEUE,
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
            if "ready." in self.log_path.read_text(errors="replace").split("celery worker starting")[-1]:
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
def celery_worker_process(transactional_db, publish_to_broker):
    """A running worker; tests may kill() and start() it again."""
    worker = Worker(publish_to_broker).start()
    yield worker
    worker.stop()


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
