"""Helpers for the dataset, export, attachment and alert tests: demonstrations brought to a
given state through the real services (claim, submit, grade or review, settle)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

from django.test import override_settings

from pools.models import Submission
from pools.services.claims import claim_create
from pools.services.submissions import submission_create, submission_review
from tests.factories import FarmerFactory, StaffFactory, demonstration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
WEBM = b"\x1a\x45\xdf\xa3" + b"\x93\x42\x82\x88matroska" + bytes(range(200)) * 50


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def declared(name: str, data: bytes, content_type: str = "image/png") -> dict:
    return {"name": name, "content_type": content_type, "size": len(data), "sha256": sha256(data)}


def submit(factory, farmer=None, *, capture, demo: dict | None = None, attachments=()) -> Submission:
    """A submitted demonstration (scored at once by the rules grader unless it is manual)."""
    farmer = farmer or FarmerFactory()
    demo = demo or demonstration()
    if attachments:
        demo = {**demo, "attachments": list(attachments)}
    claim = claim_create(factory=factory, farmer=farmer)
    with capture(execute=True):
        submission = submission_create(claim_id=claim.pk, farmer=farmer, demonstration=demo)
    submission.refresh_from_db()
    return submission


def review(submission: Submission, score: str, *, capture) -> Submission:
    """A staff score; an unsettled submission then settles (accepted or rejected)."""
    with capture(execute=True):
        submission_review(submission_id=submission.pk, reviewer=StaffFactory(), quality_score=score)
    submission.refresh_from_db()
    return submission


def settled(factory, farmer=None, *, score: str = "0.9", capture, **kwargs) -> Submission:
    """Submitted, then scored `score` by a reviewer and settled (needs FORGE_GRADER=manual)."""
    return review(submit(factory, farmer, capture=capture, **kwargs), score, capture=capture)


def flagged_held(factory, farmer=None, *, capture) -> Submission:
    """Held for review by the scoring service (a grader confidence under the review line; rules
    grader). It was the too-fast hold, gone with issue 16."""
    with override_settings(FORGE_REVIEW_BELOW_CONFIDENCE=1.01):
        submission = submit(factory, farmer, capture=capture, demo=demonstration())
    assert submission.needs_review and submission.review_reasons, submission.review_reasons
    return submission


def flagged_settled(factory, farmer=None, *, capture, score: str = "0.9") -> Submission:
    """Flagged by the integrity checks, then released and paid by a reviewer."""
    submission = review(flagged_held(factory, farmer, capture=capture), score, capture=capture)
    assert submission.status == Submission.Status.SETTLED and submission.review_reasons
    return submission


def jsonl(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.decode().splitlines()]


def read_download(response) -> bytes:
    return b"".join(response.streaming_content)


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))
