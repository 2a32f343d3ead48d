"""Shared benchmark plumbing: a fresh database, Django in this process, worker processes,
the pgbench baseline, and the machine description."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/15")


def psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qAtc", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def fresh_database(name: str) -> str:
    psql(f"DROP DATABASE IF EXISTS {name}")
    psql(f"CREATE DATABASE {name}")
    url = f"{PG}/{name}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "forge.settings.bench"}
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return url


def django_setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["CELERY_BROKER_URL"] = BROKER
    os.environ["DJANGO_SETTINGS_MODULE"] = "forge.settings.bench"
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def machine() -> dict:
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    cpu = re.search(r"model name\s+:\s+(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu.group(1) if cpu else platform.processor(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgres": psql("SHOW server_version"),
        "platform": platform.platform(),
    }


def pgbench_tps(*, clients: int = 2, seconds: int = 10) -> float:
    """TPC-B-like pgbench with `clients` clients on the same server, for ratios."""
    psql("DROP DATABASE IF EXISTS forge_pgbench")
    psql("CREATE DATABASE forge_pgbench")
    subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-i", "-s", "10", "-q", "forge_pgbench"],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [
            "pgbench",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            str(clients),
            "-T",
            str(seconds),
            "forge_pgbench",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


class WorkerProcess:
    def __init__(self, database_url: str, name: str, log_level: str = "INFO", queues: str = "forge"):
        self.log_path = RESULTS / f"worker-{name}.log"
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": BROKER,
            "DJANGO_SETTINGS_MODULE": "forge.settings.bench",
            "LOG_LEVEL": log_level,
        }
        self.name = name
        self.queues = queues
        self.process = None

    def start(self) -> WorkerProcess:
        RESULTS.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "forge",
                "worker",
                "--pool=solo",
                "--concurrency=1",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                self.queues,
                "-n",
                f"{self.name}@%h",
                f"--loglevel={self.env['LOG_LEVEL']}",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while "ready." not in self.log_path.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start; see {self.log_path}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def write_result(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
