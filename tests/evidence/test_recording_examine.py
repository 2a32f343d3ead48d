"""The worker's examination of a stored recording (evidence.services.recording_examine): the
evidence section handed to pools, keyframes kept (hashes, thumbnails), reuse of another
recording's frames found across farmers and factories, and the scorer applying the evidence
rule. The recordings are tests/evidence/recordings.py's (Pillow + PyAV)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tempfile
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image

from evidence.archive import archive_open
from evidence.models import EvidenceFrame, EvidenceReport
from evidence.recorder import demonstration_from_archive
from evidence.selectors import evidence_frames_of
from evidence.services import recording_attach, recording_examine
from evidence.tasks import recordings_sweep_task
from evidence.video import video_probe
from pools.grading.base import MAX_KEYFRAME_IMAGES
from pools.models import Submission
from pools.services.batch import process_batch
from pools.services.claims import claim_create
from tests.evidence.conftest import requires_tesseract
from tests.evidence.intake_support import archive_for_claim, video_of
from tests.evidence.recordings import FINAL_STATE, TASK
from tests.factories import CreatorFactory, FarmerFactory
from tests.fake_http import RecordingHandler, serving
from tests.money_helpers import assert_audit_clean, funded_factory
from tests.pools.test_grading_judge import answer, completion

pytestmark = pytest.mark.django_db

EVIDENCE_CHECKS = [
    "video_changes",
    "duration_matches",
    "events_match_video",
    "final_state",
    "success_checks",
    "typed_text",
    "clicks",
    "frames_reused",
]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def budget_factory(**fields):
    return funded_factory(
        CreatorFactory(),
        reward="0.2",
        deposit="2",
        title=TASK["title"],
        instructions=TASK["instructions"],
        expected_minutes=TASK["expected_minutes"],
        **fields,
    )


def submit_archive(path, *, factory=None, farmer=None) -> Submission:
    """The archive submitted for a fresh claim, as intake does (recording_attach)."""
    factory = factory or budget_factory()
    farmer = farmer or FarmerFactory()
    claim = claim_create(factory=factory, farmer=farmer)
    # The recording's clock moved into the claim's window (the grader checks it was recorded
    # after claiming), the video kept as it is.
    with tempfile.TemporaryDirectory(prefix="recording-") as directory:
        path = archive_for_claim(Path(directory) / "archive.zip", claim, video=video_of(path))
        with archive_open(str(path)) as archive, archive.video_file() as video:
            demonstration = demonstration_from_archive(archive, video=video, final_state=FINAL_STATE)
            recording = recording_attach(
                claim_id=claim.pk,
                farmer=farmer,
                demonstration=demonstration,
                video=video,
                info=video_probe(video.path),
                archive_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                meta={},
            )
    return recording.submission


def checks_of(submission: Submission) -> dict[str, dict]:
    return {check["name"]: check for check in submission.score_breakdown["evidence"]["checks"]}


@requires_tesseract
def test_a_genuine_recording_is_examined_then_scored_and_paid(recordings):
    submission = submit_archive(recordings["genuine"])
    assert submission.evidence_status == "pending"
    assert process_batch(limit=100) == 0  # nothing to score before the evidence is in

    assert recording_examine(submission_id=submission.pk) is True
    submission.refresh_from_db()
    assert submission.evidence_status == "examined" and submission.evidence["verdict"] == "supported"
    report = EvidenceReport.objects.get(recording__submission=submission)
    assert report.cpu_seconds > 0

    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.status == "settled", (submission.quality_score, submission.score_reasons)
    assert submission.farmer_reward > 0
    checks = checks_of(submission)
    assert list(checks) == EVIDENCE_CHECKS
    assert {check["result"] for check in checks.values()} == {"pass"}
    assert submission.score_breakdown["evidence"]["success_checks"] == ["Budget 2026", "Month", "Income", "Expenses"]
    # every keyframe a check names has a thumbnail in storage
    frames = evidence_frames_of(submission.pk)
    used = {check["keyframe"]["index"] for check in checks.values() if check["keyframe"]}
    assert used and used <= set(frames)
    assert all(frames[index].thumbnail.storage.exists(frames[index].thumbnail.name) for index in used)
    assert EvidenceFrame.objects.filter(submission=submission).count() > len(frames)  # hashes of every keyframe
    assert_audit_clean()


@requires_tesseract
def test_the_wrong_document_scores_nothing(recordings):
    submission = submit_archive(recordings["wrong_document"])
    recording_examine(submission_id=submission.pk)
    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.quality_score == 0 and submission.farmer_reward in (None, 0)
    assert set(submission.score_breakdown["evidence_rule"]["unsupported_claims"]) >= {"final_state", "typed_text"}
    # the evidence itself holds nothing (a real recording, of the wrong thing); the grader may
    # still ask for a look at a demonstration stripped of its claims (low confidence)
    assert not any(reason.startswith("Evidence") for reason in submission.review_reasons)
    if not submission.needs_review:
        assert submission.status == "rejected"
    assert_audit_clean()


def test_a_frozen_screen_is_held_naming_the_checks(recordings):
    submission = submit_archive(recordings["frozen"])
    recording_examine(submission_id=submission.pk)
    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.needs_review and submission.settlement_transaction_id is None
    assert any(reason.startswith("Evidence check video_changes: ") for reason in submission.review_reasons)
    assert any(reason.startswith("Evidence check events_match_video: ") for reason in submission.review_reasons)


def test_frames_reused_from_another_farmers_recording_hold_across_factories(recordings):
    first = submit_archive(recordings["genuine"])
    recording_examine(submission_id=first.pk)
    copy = submit_archive(recordings["genuine"], factory=budget_factory())  # another farmer, another factory
    assert copy.farmer_id != first.farmer_id and copy.factory_id != first.factory_id

    recording_examine(submission_id=copy.pk)
    process_batch(limit=100)

    copy.refresh_from_db()
    reused = checks_of(copy)["frames_reused"]
    assert reused["result"] == "fail" and reused["details"]["other_submission"] == str(first.pk)
    assert f"submission {first.pk}" in reused["reason"]
    assert copy.needs_review
    assert any(reason.startswith("Evidence check frames_reused: ") for reason in copy.review_reasons)
    assert reused["keyframe"]["index"] in evidence_frames_of(copy.pk)  # its thumbnail is shown
    first.refresh_from_db()
    assert checks_of(first)["frames_reused"]["result"] == "pass"  # the original is not blamed


def test_a_different_recording_is_not_reuse(recordings):
    first = submit_archive(recordings["genuine"])
    recording_examine(submission_id=first.pk)
    other = submit_archive(recordings["wrong_document"])
    recording_examine(submission_id=other.pk)

    other.refresh_from_db()
    reused = next(check for check in other.evidence["checks"] if check["name"] == "frames_reused")
    assert reused["result"] == "pass"


def test_examining_twice_changes_nothing(recordings):
    submission = submit_archive(recordings["frozen"])
    assert recording_examine(submission_id=submission.pk) is True
    assert recording_examine(submission_id=submission.pk) is False
    assert EvidenceReport.objects.filter(recording__submission=submission).count() == 1


def test_a_stored_video_that_cannot_be_read_holds_for_want_of_evidence(recordings, media):
    submission = submit_archive(recordings["frozen"])
    path = submission.recording.video.path
    with open(path, "wb") as damaged:
        damaged.write(b"\0" * 4096)

    recording_examine(submission_id=submission.pk)
    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.evidence["verdict"] == "no_video"
    assert submission.needs_review
    assert submission.review_reasons[0].startswith("Evidence: The stored recording cannot be read")


def test_the_sweeper_sends_a_lost_examination_again(recordings, settings):
    submission = submit_archive(recordings["frozen"])  # its task was never delivered (no commit here)
    settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = 3600
    assert recordings_sweep_task() == 0
    settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = 0

    assert recordings_sweep_task() == 1  # the test settings run the task in-process (eager)

    submission.refresh_from_db()
    assert submission.evidence_status == "examined"
    assert recordings_sweep_task() == 0


def test_the_factorys_own_success_checks_are_what_the_last_frames_must_show(recordings):
    factory = budget_factory(success_checks=[{"kind": "shows", "value": "Quarterly Forecast", "required": True}])
    submission = submit_archive(recordings["frozen"], factory=factory)
    recording_examine(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.evidence["success_checks"] == ["Quarterly Forecast"]


def test_a_video_in_a_storage_without_local_paths_is_streamed_to_a_temporary_file(tmp_path):
    """S3 has no local path: the worker streams the video to a temporary file in pieces."""
    from django.core.files import File
    from django.core.files.base import ContentFile
    from django.core.files.storage import FileSystemStorage, Storage

    from evidence.services import SPOOL_CHUNK_BYTES, stored_video_path

    class RemoteStorage(Storage):  # opens files, has no local path (Storage.path raises)
        def _open(self, name, mode="rb"):
            return File(open(tmp_path / "remote" / name, mode))

    data = bytes(range(256)) * (SPOOL_CHUNK_BYTES // 256 * 2 + 3)  # more than two pieces
    name = FileSystemStorage(location=str(tmp_path / "remote")).save("video.mp4", ContentFile(data))
    storage = RemoteStorage()
    with stored_video_path(storage, name) as path:
        assert not path.startswith(str(tmp_path / "remote"))
        with open(path, "rb") as spooled:
            assert spooled.read() == data
    assert not Path(path).exists()  # the temporary copy is gone
    local = FileSystemStorage(location=str(tmp_path / "local"))
    name = local.save("video.mp4", ContentFile(b"x"))
    with stored_video_path(local, name) as path:
        assert path == local.path(name)  # a local file is read where it is


def test_a_recording_that_breaks_the_examiner_is_held_not_retried_for_ever(recordings, monkeypatch):
    import evidence.services

    def broken(*args, **kwargs):
        raise ValueError("a frame the decoder chokes on")

    submission = submit_archive(recordings["frozen"])
    monkeypatch.setattr(evidence.services, "keyframes_extract", broken)

    assert recording_examine(submission_id=submission.pk) is True
    process_batch(limit=100)

    submission.refresh_from_db()
    assert submission.evidence["verdict"] == "no_video" and submission.needs_review
    assert submission.review_reasons == [
        "Evidence: The recording could not be examined (ValueError); a person checks it."
    ]


def test_a_missing_video_file_is_held_for_review(recordings):
    submission = submit_archive(recordings["frozen"])
    Path(submission.recording.video.path).unlink()

    recording_examine(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.evidence["verdict"] == "no_video"
    assert submission.evidence["reasons"][0].startswith("The stored recording cannot be read")


def test_a_storage_that_fails_to_fetch_leaves_the_row_pending_for_a_retry(recordings, monkeypatch):
    import evidence.services

    @contextmanager
    def unreachable(storage, name):
        raise ConnectionError("the storage timed out")
        yield

    submission = submit_archive(recordings["frozen"])
    monkeypatch.setattr(evidence.services, "stored_video_path", unreachable)

    with pytest.raises(ConnectionError):
        recording_examine(submission_id=submission.pk)

    submission.refresh_from_db()
    assert submission.evidence_status == "pending" and not EvidenceReport.objects.exists()


class JudgeHandler(RecordingHandler):
    def do_POST(self):
        self.record(self.path)
        self.reply(200, json.dumps(completion(answer(True, 0.9))))


@requires_tesseract
def test_the_model_judge_is_shown_the_final_frame_and_the_frames_after_typing(recordings, settings):
    submission = submit_archive(recordings["genuine"])
    assert recording_examine(submission_id=submission.pk) is True
    submission.refresh_from_db()
    refs = submission.evidence["judge_keyframes"]
    purposes = [ref["purpose"] for ref in refs]
    assert purposes[-1] == "final" and any(purpose.startswith("after typing") for purpose in purposes)
    assert 0 < len(refs) <= MAX_KEYFRAME_IMAGES
    assert [float(ref["t"]) for ref in refs] == sorted(float(ref["t"]) for ref in refs)
    frames = evidence_frames_of(submission.pk)  # each one is a stored thumbnail
    stored = {ref["index"]: frames[ref["index"]].thumbnail.read() for ref in refs}

    settings.FORGE_GRADER = "judge"
    with serving(JudgeHandler) as server:
        settings.FORGE_GRADER_JUDGE_URL = server.url("/v1")
        process_batch(limit=100)
        body = server.last_body
    submission.refresh_from_db()
    assert submission.graded_by == "judge" and submission.status == "settled"
    urls = [part["image_url"]["url"] for part in body["messages"][-1]["content"] if part["type"] == "image_url"]
    sent = [base64.b64decode(url.removeprefix("data:image/jpeg;base64,")) for url in urls]
    assert sent == [stored[ref["index"]] for ref in refs]
    assert all(Image.open(io.BytesIO(data)).format == "JPEG" for data in sent)


def test_the_sweeper_gives_up_after_its_attempts_and_holds_for_staff(recordings, monkeypatch, settings):
    """Storage down for good: the sweeper sends the examination again at most
    FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS times, then marks the row failed and it is held, with the
    reason, instead of being sent again for ever."""
    import evidence.services

    calls = []

    @contextmanager
    def unreachable(storage, name):
        calls.append(name)
        raise ConnectionError("the storage timed out")
        yield

    submission = submit_archive(recordings["frozen"])
    reachable = evidence.services.stored_video_path
    monkeypatch.setattr(evidence.services, "stored_video_path", unreachable)
    settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = 0
    settings.FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS = 2

    assert recordings_sweep_task() == 1
    assert recordings_sweep_task() == 1
    submission.refresh_from_db()
    assert (submission.evidence_status, submission.evidence_sweeps, len(calls)) == ("pending", 2, 2)

    assert recordings_sweep_task() == 0  # the third time: given up, not sent
    assert len(calls) == 2
    submission.refresh_from_db()
    assert submission.evidence_status == "failed" and submission.evidence["verdict"] == "no_video"
    assert recordings_sweep_task() == 0  # and never again
    monkeypatch.setattr(evidence.services, "stored_video_path", reachable)
    assert recording_examine(submission_id=submission.pk) is False  # a late delivery changes nothing

    process_batch(limit=100)
    submission.refresh_from_db()
    assert submission.needs_review and submission.quality_score is not None
    assert submission.review_reasons == [
        "Evidence: The recording could not be examined after 3 attempts (the storage or the evidence "
        "worker did not answer); a person checks it."
    ]
    assert not EvidenceReport.objects.exists()


def test_the_sweeper_waits_between_sendings(recordings, settings):
    """A row sent again is not sent again before FORGE_EVIDENCE_SWEEP_AFTER_SECONDS have passed
    since that sending (a queue backlog must not use up its attempts in minutes)."""
    submission = submit_archive(recordings["frozen"])
    Submission.objects.filter(pk=submission.pk).update(submitted_at=timezone.now() - timedelta(hours=2))
    settings.FORGE_EVIDENCE_SWEEP_AFTER_SECONDS = 3600
    settings.FORGE_EVIDENCE_SWEEP_MAX_ATTEMPTS = 5
    from pools.services.evidence import submissions_evidence_sweep

    assert submissions_evidence_sweep(older_than_seconds=3600, max_attempts=5) == ([submission.pk], [])
    assert submissions_evidence_sweep(older_than_seconds=3600, max_attempts=5) == ([], [])
    Submission.objects.filter(pk=submission.pk).update(evidence_swept_at=timezone.now() - timedelta(hours=1, seconds=1))
    assert submissions_evidence_sweep(older_than_seconds=3600, max_attempts=5) == ([submission.pk], [])
    submission.refresh_from_db()
    assert submission.evidence_sweeps == 2
