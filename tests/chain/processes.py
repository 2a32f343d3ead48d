"""Code of the project run in a process of its own (a payout run the tests kill), against the
test database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def shell_process(code: str, env: dict[str, str], *, text: bool = False) -> subprocess.Popen:
    """`manage.py shell -c code` (see `manage_process`)."""
    return manage_process("shell", "-c", code, env=env, text=text)


def manage_process(*arguments: str, env: dict[str, str], text: bool = False) -> subprocess.Popen:
    """`manage.py ...` with the test settings, the test database and `env`; its output and
    errors on one pipe."""
    from tests.integration.conftest import _database_url

    return subprocess.Popen(
        [sys.executable, "manage.py", *arguments],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "forge.settings.test", "DATABASE_URL": _database_url(), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=text,
    )
