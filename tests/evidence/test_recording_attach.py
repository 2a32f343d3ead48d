"""evidence.services.recording_attach: a converted recorder archive becomes a submission with
its recording (video in storage, Recording row, the declared attachment uploaded) in one
transaction; a refused submission stores no file."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
from django.core.files.storage import default_storage
from django.db import IntegrityError

from core.exceptions import Conflict
from evidence.archive import archive_open
from evidence.models import Recording
from evidence.recorder import demonstration_from_archive
from evidence.services import recording_attach
from evidence.video import video_probe
from pools.models import Submission
from pools.services.claims import claim_create
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"
    return settings.MEDIA_ROOT


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def attach(path, *, claim, farmer, probed=lambda info: info):
    archive_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    with archive_open(str(path)) as archive, archive.video_file() as video:
        info = probed(video_probe(video.path))
        demonstration = demonstration_from_archive(archive, video=video, final_state="Budget 2026 sheet")
        return recording_attach(
            claim_id=claim.pk,
            farmer=farmer,
            demonstration=demonstration,
            video=video,
            info=info,
            archive_sha256=archive_sha256,
            meta=archive.meta,
        )


def test_the_recording_is_stored_with_its_submission(recordings, creator, farmer, media):
    claim = claim_create(factory=funded_factory(creator), farmer=farmer)

    recording = attach(recordings["genuine"], claim=claim, farmer=farmer)

    recording.refresh_from_db()
    submission = Submission.objects.get(claim=claim)
    assert recording.submission == submission and submission.has_recording is True
    assert (recording.width, recording.height) == (960, 540)
    assert str(recording.fps) == "4.000" and recording.duration_seconds > 0
    assert recording.meta["started_at"].startswith("2026-01-12T09:30:00.250")
    assert recording.meta["quest"]["pool_id"] == "pool-7"
    with default_storage.open(recording.video.name, "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == recording.video_sha256
    assert recording.video.name.startswith(f"recordings/{submission.factory_id}/{submission.pk}/")
    attachment = submission.attachments.get(name="recording.mp4")
    assert attachment.uploaded_at is not None and attachment.file.name == recording.video.name
    assert attachment.sha256 == recording.video_sha256 and attachment.size == recording.video_size


def test_a_refused_submission_stores_no_recording_and_no_file(recordings, creator, farmer, media):
    claim = claim_create(factory=funded_factory(creator), farmer=farmer)
    attach(recordings["genuine"], claim=claim, farmer=farmer)
    files_before = stored_files(media)

    with pytest.raises(Conflict):
        attach(recordings["genuine"], claim=claim, farmer=farmer)

    assert Recording.objects.count() == 1
    assert stored_files(media) == files_before


def test_a_failure_after_the_video_was_stored_deletes_it(recordings, creator, farmer, media):
    claim = claim_create(factory=funded_factory(creator), farmer=farmer)

    with pytest.raises(IntegrityError):  # the recording_has_size constraint, after the file was saved
        attach(
            recordings["genuine"], claim=claim, farmer=farmer, probed=lambda info: dataclasses.replace(info, width=0)
        )

    assert not Submission.objects.filter(claim=claim).exists() and not Recording.objects.exists()
    assert stored_files(media) == []
