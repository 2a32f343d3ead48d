"""With the production settings a page is served only after `collectstatic` (whitenoise's
manifest storage: before, every page was a 500), and `manage.py deploy` is the one command that
gets a release there: migrate, collectstatic, check --deploy.

Each step runs in a subprocess with DJANGO_SETTINGS_MODULE=forge.settings.production (settings
are per process), a temporary STATIC_ROOT, and the test database; nothing touches the network."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.security.test_deploy_settings import ROOT, run_production

# Renders base.html (every {% static %} link) and serves one hashed static file. An anonymous
# GET of the login page needs no database row.
SERVE = """
import django, re, sys
django.setup()
from django.test import Client
client = Client(raise_request_exception=False)
page = client.get("/accounts/login/", secure=True, HTTP_HOST="forge.example.com")
print("page", page.status_code)
if page.status_code == 200:
    css = re.search(r'href="(/static/css/forge\\.[0-9a-f]+\\.css)"', page.content.decode()).group(1)
    asset = client.get(css, secure=True, HTTP_HOST="forge.example.com")
    print("asset", asset.status_code, css)
"""


@pytest.fixture
def production_env(db, tmp_path):
    """The subprocesses use the test database (already migrated: `deploy` migrates nothing)."""
    from django.db import connection

    database = connection.settings_dict
    return {
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "forge.example.com",
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
            f"/{database['NAME']}"
        ),
    }


def _serve(env: dict) -> str:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "SECURE_"))}
    environment.update({"DJANGO_SETTINGS_MODULE": "forge.settings.production", **env})
    result = subprocess.run(
        [sys.executable, "-c", SERVE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_production_serves_pages_after_deploy_and_not_before(production_env):
    before = _serve(production_env)
    assert "page 500" in before  # what the issue found: no manifest, every page fails

    deployed = run_production("deploy", **production_env)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert "deploy: ready to serve" in deployed.stdout

    after = _serve(production_env)
    assert "page 200" in after, after
    assert "asset 200" in after, after


def test_deploy_stops_when_the_deployment_check_fails(production_env):
    result = run_production("deploy", "--skip-migrate", **production_env, SECURE_SSL_REDIRECT="false")

    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr
    assert "ready to serve" not in result.stdout
