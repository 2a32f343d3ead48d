"""PostgreSQL is the only database: Django refuses to start without DATABASE_URL or with another
engine, and scripts/devdb.py (the Makefile's zero-setup default) starts an embedded
PostgreSQL once, reuses it, and leaves a configured DATABASE_URL alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEVDB = str(ROOT / "scripts" / "devdb.py")


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"} | env
    return subprocess.run([*args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120)


def test_django_refuses_to_start_without_a_database_url():
    dotenv = ROOT / ".env"
    if dotenv.exists() and "DATABASE_URL" in dotenv.read_text():
        pytest.skip("this checkout's .env sets DATABASE_URL")

    result = run(sys.executable, "manage.py", "check", DJANGO_SETTINGS_MODULE="forge.settings.local")

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
    assert "scripts/devdb.py url" in result.stderr


def test_django_refuses_a_database_other_than_postgresql():
    result = run(sys.executable, "manage.py", "check", DATABASE_URL="sqlite:///demo.sqlite3")

    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL database" in result.stderr


def test_devdb_leaves_a_configured_database_url_alone(tmp_path):
    data = tmp_path / "never-created"

    result = run(
        sys.executable,
        DEVDB,
        "exec",
        "--",
        sys.executable,
        "-c",
        "import os; print(os.environ['DATABASE_URL'])",
        DATABASE_URL="postgres://someone@db.example:5432/theirs",
        FORGE_DEVDB_DIR=str(data),
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "postgres://someone@db.example:5432/theirs"
    assert not data.exists()


def test_devdb_starts_postgresql_once_reuses_it_and_stops_it(tmp_path):
    data = tmp_path / "pgdata"
    try:
        first = run(sys.executable, DEVDB, "url", FORGE_DEVDB_DIR=str(data))
        assert first.returncode == 0, first.stderr
        url = first.stdout.strip()
        assert url.startswith("postgres://postgres@127.0.0.1:") and url.endswith("/forge")
        assert not url.startswith("postgres://postgres@127.0.0.1:5432/")

        again = run(
            sys.executable,
            DEVDB,
            "exec",
            "--",
            sys.executable,
            "-c",
            "import os; print(os.environ['DATABASE_URL'])",
            FORGE_DEVDB_DIR=str(data),
        )
        assert again.stdout.strip() == url  # the same server, not a second one
        assert "initialising" not in again.stderr
        with psycopg.connect(url.replace("postgres://", "postgresql://")) as connection:
            version = connection.execute("SHOW server_version_num").fetchone()[0]
        assert int(version) >= 180000
    finally:
        stopped = run(sys.executable, DEVDB, "stop", FORGE_DEVDB_DIR=str(data))
    assert stopped.returncode == 0
    assert "not running" in run(sys.executable, DEVDB, "status", FORGE_DEVDB_DIR=str(data)).stdout
