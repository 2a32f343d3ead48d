"""Cheating signals of one demonstration: its sequence fingerprint (what makes two
demonstrations "the same sequence of actions") and the too-fast rule. Which submissions are
held, and with which messages, is decided in one place: `services/scoring.py`.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

# A demonstration shorter than this share of the expected time is suspicious.
TOO_FAST_SHARE = 0.1


def sequence_fingerprint(demonstration: dict) -> str:
    steps = [
        (
            str(step.get("action", "")),
            str(step.get("target", "")).strip().lower(),
            str(step.get("text", "")).strip().lower(),
        )
        for step in demonstration.get("steps", [])
    ]
    return hashlib.sha256(json.dumps(steps, separators=(",", ":")).encode()).hexdigest()


def _duration_seconds(demonstration: dict) -> float | None:
    try:
        started = datetime.fromisoformat(str(demonstration["started_at"]).replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(demonstration["ended_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return (ended - started).total_seconds()


def too_fast_hold(demonstration: dict, expected_minutes: int) -> str | None:
    """A reason when the demonstration took far less than the factory's expected time."""
    duration = _duration_seconds(demonstration)
    expected = expected_minutes * 60
    if duration is not None and duration < expected * TOO_FAST_SHARE:
        return f"Done in {duration:.0f} s against {expected_minutes} expected minutes."
    return None
