"""Cheating signals of one demonstration: its sequence fingerprint (what makes two
demonstrations "the same sequence of actions"). Which submissions are held, and with which
messages, is decided in one place: `services/scoring.py`. Speed is judged by the grader
against the task (pools/grading/rules.py: robotic and impossible timing), not here.
"""

from __future__ import annotations

import hashlib
import json


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
