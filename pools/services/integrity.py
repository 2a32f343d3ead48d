"""Cheating signals of one demonstration: its sequence fingerprint (what makes two
demonstrations "the same sequence of actions"). Which submissions are held, and with which
messages, is decided in one place: `services/scoring.py`. Speed is judged by the grader
against the task (pools/grading/rules.py: robotic and impossible timing), not here.
"""

from __future__ import annotations

import hashlib
import json

from ..grading.similarity import demonstration_signature


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


# Near-duplicates (pools/grading/similarity.py): a submission's LSH keys are its similarity
# signature's BANDS smallest MinHash values, each salted with the digest of the keys pressed and
# URLs visited (which must be equal for a duplicate). Two recordings at the duplicate line
# (similarity >= 0.85) share their smallest hash with probability >= 0.85, so at least one of
# eight keys almost always; candidates are then compared exactly on their signatures.
BANDS = 8


def similarity_signature(demonstration: dict) -> dict:
    return demonstration_signature(demonstration)


def signature_bands(signature: dict) -> list[int]:
    hard = str(signature.get("hard", ""))
    keys = []
    for value in sorted(signature.get("minhash") or [])[:BANDS]:
        digest = hashlib.blake2b(f"{hard}:{value}".encode(), digest_size=8).digest()
        keys.append(int.from_bytes(digest, "big", signed=True))  # fits a PostgreSQL bigint
    return keys
