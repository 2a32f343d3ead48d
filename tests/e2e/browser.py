"""Which Chromium the browser tests drive, and how it is started.

Debian's `chromium` package (CI installs it in .ci/run); never a browser downloaded by a tool.
`CHROMIUM_PATH` points elsewhere when needed. This module does not import Playwright, so that
tests/conftest.py can ask whether Chromium exists while collecting.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"

CHROMIUM_ARGS = [
    # Containers (CI) run as root without user namespaces: Chromium's sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    # /dev/shm is small in containers; Chromium falls back to /tmp.
    "--disable-dev-shm-usage",
    # Nothing but the live server: no update checks, sync or first-run pages.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str | None:
    """The Chromium binary to launch, or None when there is none."""
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("chromium")
