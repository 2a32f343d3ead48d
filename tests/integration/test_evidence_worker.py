"""The whole path of a recorder archive, with real parts: the archive uploaded through the API
(POST /api/v1/claims/{id}/recording/), converted and stored; its evidence examined by a real
Celery worker on Redis (the `evidence` queue: PyAV, Tesseract); the evidence handed to pools,
scored by the evidence rule, settled; the ledger audit clean."""

from __future__ import annotations

import pytest

from evidence.models import EvidenceFrame, EvidenceReport
from pools.models import Submission
from pools.services.claims import claim_create
from tests.evidence.conftest import requires_tesseract
from tests.evidence.intake_support import archive_for_claim, video_of
from tests.evidence.recordings import FINAL_STATE, TASK, build_recording
from tests.evidence.test_recording_intake_api import post
from tests.factories import CreatorFactory, FarmerFactory
from tests.integration.conftest import wait_for
from tests.money_helpers import assert_audit_clean, funded_factory

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    """The genuine and frozen recordings of tests/evidence/recordings.py (its conftest's fixture
    is not visible from here)."""
    directory = tmp_path_factory.mktemp("recordings")
    return {kind: build_recording(directory, kind) for kind in ("genuine", "frozen")}


def budget_claim():
    factory = funded_factory(
        CreatorFactory(),
        reward="0.2",
        deposit="1",
        title=TASK["title"],
        instructions=TASK["instructions"],
        expected_minutes=TASK["expected_minutes"],
    )
    return claim_create(factory=factory, farmer=FarmerFactory())


@requires_tesseract
def test_an_uploaded_archive_is_examined_by_a_worker_then_scored_settled_and_audited(
    start_worker, recordings, settings, tmp_path, as_user
):
    settings.MEDIA_ROOT = media = tmp_path / "media"  # the worker reads the video the API stored
    worker = start_worker(extra_env={"MEDIA_ROOT": str(media)})
    claim = budget_claim()
    archive = archive_for_claim(tmp_path / "genuine.zip", claim, video=video_of(recordings["genuine"]))

    response = post(as_user(claim.farmer), claim, archive.read_bytes(), final_state=FINAL_STATE)

    assert response.status_code == 201, response.json()
    submission_id = response.json()["id"]
    assert Submission.objects.get(pk=submission_id).evidence_status == "pending"
    settled = wait_for(
        lambda: Submission.objects.filter(pk=submission_id, status__in=["settled", "rejected"]).first(),
        timeout=120,
        message="the worker to examine, score and settle the recording",
    )
    assert settled.status == "settled" and settled.farmer_reward > 0
    assert settled.evidence_status == "examined"
    checks = {check["name"]: check["result"] for check in settled.score_breakdown["evidence"]["checks"]}
    assert checks == dict.fromkeys(
        [
            "video_changes",
            "duration_matches",
            "events_match_video",
            "final_state",
            "success_checks",
            "typed_text",
            "clicks",
            "frames_reused",
        ],
        "pass",
    )
    assert worker.succeeded("evidence.recording_examine") == 1
    report = EvidenceReport.objects.get(recording__submission_id=submission_id)
    assert report.cpu_seconds > 0
    thumbnails = EvidenceFrame.objects.filter(submission_id=submission_id).exclude(thumbnail="")
    assert thumbnails and all((media / frame.thumbnail.name).is_file() for frame in thumbnails)
    assert_audit_clean()


def test_a_recording_whose_task_was_lost_is_recovered_by_the_sweeper(
    start_worker, broker_url, recordings, settings, tmp_path, as_user
):
    """The examination message never reached a worker (sent to no one: no worker yet, then the
    queue emptied); the evidence sweeper sends it again and the frozen screen ends held."""
    import redis

    from evidence.tasks import recordings_sweep_task

    settings.MEDIA_ROOT = media = tmp_path / "media"
    claim = budget_claim()
    archive = archive_for_claim(tmp_path / "frozen.zip", claim, video=video_of(recordings["frozen"]))
    response = post(as_user(claim.farmer), claim, archive.read_bytes(), final_state=FINAL_STATE)
    assert response.status_code == 201, response.json()
    submission_id = response.json()["id"]
    redis.Redis.from_url(broker_url).flushdb()  # the message is lost

    worker = start_worker(extra_env={"MEDIA_ROOT": str(media)})
    settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = 0
    assert recordings_sweep_task() == 1  # published to the broker (this test process is not eager)
    held = wait_for(
        lambda: Submission.objects.filter(pk=submission_id, needs_review=True).first(),
        timeout=120,
        message="the worker to examine the swept recording and the scorer to hold it",
    )
    assert any(reason.startswith("Evidence check video_changes: ") for reason in held.review_reasons)
    assert worker.succeeded("evidence.recording_examine") == 1
    assert held.settlement_transaction_id is None
    assert_audit_clean()
