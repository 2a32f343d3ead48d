"""Production settings: `manage.py check --deploy` finds nothing to warn about, and the process
refuses to start without a proper SECRET_KEY. Settings are per process, so each check runs
`manage.py` in a subprocess with DJANGO_SETTINGS_MODULE=forge.settings.production."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_production(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SECURE_"))
    }
    environment.update({"DJANGO_SETTINGS_MODULE": "forge.settings.production", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_no_issues_with_production_settings():
    result = run_production(
        "check",
        "--deploy",
        "--fail-level",
        "DEBUG",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="forge.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_does_notice_an_insecure_setting():
    """The check above can fail: turning off the HTTPS redirect is reported (security.W008)."""
    result = run_production(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="forge.example.com",
        SECURE_SSL_REDIRECT="false",
    )

    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    result = run_production("check", ALLOWED_HOSTS="forge.example.com")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set" in result.stderr


def test_production_refuses_a_short_secret_key():
    result = run_production("check", SECRET_KEY="too-short-to-be-a-secret", ALLOWED_HOSTS="forge.example.com")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_never_runs_in_debug_mode():
    result = run_production(
        "shell",
        "-c",
        "from django.conf import settings; print('DEBUG', settings.DEBUG, settings.SESSION_COOKIE_SECURE)",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="forge.example.com",
        DEBUG="true",
    )

    assert result.returncode == 0, result.stderr
    assert "DEBUG False True" in result.stdout
