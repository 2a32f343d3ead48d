"""Cheating signals: work that should be looked at by staff before it is paid.

- the same attachment (SHA-256) submitted before, by anyone, anywhere;
- a near-identical event sequence (same normalised actions and targets) submitted before;
- a demonstration far faster than the factory's expected time.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from ..models import Attachment, Submission

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


def integrity_flags(submission: Submission) -> list[str]:
    flags = []
    hashes = list(submission.attachments.values_list("sha256", flat=True))
    if hashes and Attachment.objects.filter(sha256__in=hashes).exclude(submission_id=submission.pk).exists():
        flags.append("An attachment identical to one already submitted.")
    if (
        submission.sequence_fingerprint
        and Submission.objects.filter(sequence_fingerprint=submission.sequence_fingerprint)
        .exclude(pk=submission.pk)
        .exists()
    ):
        flags.append("The same sequence of actions was already submitted.")
    too_fast = too_fast_flag(submission.demonstration, submission.factory.expected_minutes)
    if too_fast:
        flags.append(too_fast)
    return flags


def too_fast_flag(demonstration: dict, expected_minutes: int) -> str | None:
    """A reason when the demonstration took far less than the factory's expected time."""
    duration = _duration_seconds(demonstration)
    expected = expected_minutes * 60
    if duration is not None and duration < expected * TOO_FAST_SHARE:
        return f"Done in {duration:.0f} s against {expected_minutes} expected minutes."
    return None
