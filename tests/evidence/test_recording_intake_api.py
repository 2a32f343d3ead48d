"""POST /api/v1/claims/{id}/recording/: the farmer's recorder archive, checked against their
claim, converted into the demonstration and submitted with its video. Every bad archive is a
400 that says what is wrong, and nothing is stored: no submission, no recording, no file, and
the claim stays open."""

from __future__ import annotations

import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from evidence.models import Recording
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.evidence.intake_support import archive_for_claim, claim_meta, session_members, video_of, zip_of
from tests.factories import FarmerFactory
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"
    return settings.MEDIA_ROOT


@pytest.fixture
def genuine_video(recordings) -> bytes:
    return video_of(recordings["genuine"])


@pytest.fixture
def claim(creator, farmer):
    return claim_create(factory=funded_factory(creator), farmer=farmer)


def post(client, claim, data: bytes, *, name="recording.zip", **fields):
    return client.post(
        f"/api/v1/claims/{claim.pk}/recording/",
        {"archive": SimpleUploadedFile(name, data, content_type="application/zip"), **fields},
        format="multipart",
    )


def assert_nothing_stored(claim, media):
    assert not Submission.objects.filter(claim=claim).exists()
    assert not Recording.objects.exists()
    assert Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN
    assert not media.exists() or not [path for path in media.rglob("*") if path.is_file()]


def test_a_genuine_archive_becomes_the_submission_with_its_recording(claim, as_user, genuine_video, tmp_path):
    path = archive_for_claim(tmp_path / "a.zip", claim, video=genuine_video)

    response = post(as_user(claim.farmer), claim, path.read_bytes(), final_state="Budget 2026 with headers")

    assert response.status_code == 201, response.json()
    body = response.json()
    submission = Submission.objects.get(pk=body["id"])
    assert submission.claim_id == claim.pk and submission.has_recording
    assert body["recording"]["width"] == 960 and body["recording"]["fps"] == "4.000"
    demonstration = submission.demonstration
    assert demonstration["final_state"] == "Budget 2026 with headers"
    assert {step["action"] for step in demonstration["steps"]} >= {"click", "type", "key"}
    assert any(step.get("text") == "Budget 2026" for step in demonstration["steps"])
    assert demonstration["attachments"][0]["name"] == "recording.mp4"
    recording = Recording.objects.get(submission=submission)
    assert recording.meta["quest"]["pool_id"] == f"factory-{claim.factory_id}"
    assert submission.attachments.get().uploaded_at is not None


def test_the_recordings_examination_is_shown_in_the_api_and_on_the_farmers_page(claim, client, genuine_video, tmp_path):
    """evidence_status in the submission representation, and "Checking your recording…" on the
    farmer's submission page while the worker examines it; then what became of it."""
    client.force_login(claim.farmer)
    path = archive_for_claim(tmp_path / "a.zip", claim, video=genuine_video)
    body = client.post(
        f"/api/v1/claims/{claim.pk}/recording/",
        {"archive": SimpleUploadedFile("recording.zip", path.read_bytes(), content_type="application/zip")},
    ).json()
    assert body["evidence_status"] == "pending"  # the examination runs after commit, in a worker
    assert client.get(f"/api/v1/submissions/{body['id']}/").json()["evidence_status"] == "pending"
    page = client.get(f"/farm/submissions/{body['id']}/").content.decode()
    assert "Checking your recording…" in page and 'data-evidence="pending"' in page

    Submission.objects.filter(pk=body["id"]).update(evidence_status="failed")
    assert client.get(f"/api/v1/submissions/{body['id']}/").json()["evidence_status"] == "failed"
    page = client.get(f"/farm/submissions/{body['id']}/").content.decode()
    assert "Checking your recording" not in page and "Your recording could not be checked" in page


def test_an_archive_without_a_video_is_a_plain_demonstration_when_the_factory_does_not_require_one(claim, as_user):
    response = post(as_user(claim.farmer), claim, zip_of(session_members(claim)))

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(claim=claim)
    assert submission.has_recording is False and response.json()["recording"] is None
    assert not Recording.objects.exists()


def test_a_factory_requiring_a_recording_refuses_an_archive_without_video(creator, farmer, as_user, media):
    claim = claim_create(factory=funded_factory(creator, requires_recording=True), farmer=farmer)

    response = post(as_user(farmer), claim, zip_of(session_members(claim)))

    assert response.status_code == 400
    assert "requires a screen recording" in response.json()["archive"][0]
    assert_nothing_stored(claim, media)


@pytest.mark.parametrize(
    ("case", "field", "words"),
    [
        ("not a zip", "archive", "not a readable zip archive"),
        ("truncated", "archive", "not a readable zip archive"),
        ("zip bomb", "archive", "a zip bomb?"),
        ("path escape", "archive", "points outside the archive"),
        ("absolute path", "archive", "has an absolute path"),
        ("not a video", "video", "not a video FFmpeg can read"),
        ("no mp4 header", "archive", "not an MP4 video"),
        ("bad meta", "meta.duration_seconds", "number of seconds"),
    ],
)
def test_a_bad_archive_is_a_clear_400_and_stores_nothing(claim, as_user, media, case, field, words, genuine_video):
    members = session_members(claim)
    if case == "not a zip":
        data = b"PK\x03\x04 this is not really a zip"
    elif case == "truncated":
        data = zip_of({**members, "recording.mp4": genuine_video})[:-200]
    elif case == "zip bomb":
        data = zip_of({**members, "padding.bin": b"\0" * (4 * 1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
    elif case == "path escape":
        data = zip_of({**members, "../../etc/cron.d/x": b"boom"})
    elif case == "absolute path":
        data = zip_of({**members, "/etc/passwd": b"boom"})
    elif case == "not a video":
        data = zip_of({**members, "recording.mp4": b"\x00\x00\x00\x18ftypisom" + b"\x07" * 5000})
    elif case == "no mp4 header":
        data = zip_of({**members, "recording.mp4": b"<html>not a video</html>" * 10})
    else:
        data = zip_of(
            {
                **members,
                "meta.json": '{"id": "x", "timestamp": "2026-01-01T00:00:00Z", '
                '"duration_seconds": "long", "status": "completed", "title": "t", "platform": "linux", '
                '"arch": "x", "version": "1", "locale": "en"}',
            }
        )

    response = post(as_user(claim.farmer), claim, data)

    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()[field])
    assert_nothing_stored(claim, media)


def test_an_archive_recorded_for_another_factory_is_refused(claim, as_user, media, genuine_video, tmp_path):
    meta_data = claim_meta(claim)
    meta_data["quest"]["pool_id"] = f"factory-{claim.factory_id + 1000}"
    path = archive_for_claim(tmp_path / "a.zip", claim, video=genuine_video, meta_data=meta_data)

    response = post(as_user(claim.farmer), claim, path.read_bytes())

    assert response.status_code == 400
    assert f"this claim is for factory {claim.factory_id}" in response.json()["meta.quest.pool_id"][0]
    assert_nothing_stored(claim, media)


def test_an_archive_recorded_before_the_claim_is_refused(claim, as_user, media, genuine_video, tmp_path):
    path = archive_for_claim(
        tmp_path / "a.zip", claim, video=genuine_video, started_at=claim.created_at - timedelta(hours=2)
    )

    response = post(as_user(claim.farmer), claim, path.read_bytes())

    assert response.status_code == 400
    assert "before you claimed this task" in response.json()["meta.timestamp"][0]
    assert_nothing_stored(claim, media)


def test_an_archive_that_ends_in_the_future_is_refused(claim, as_user, media, genuine_video, tmp_path):
    path = archive_for_claim(
        tmp_path / "a.zip", claim, video=genuine_video, started_at=claim.created_at + timedelta(hours=2)
    )

    response = post(as_user(claim.farmer), claim, path.read_bytes())

    assert response.status_code == 400
    assert "check your computer's clock" in response.json()["meta.timestamp"][0]
    assert_nothing_stored(claim, media)


def test_no_file_is_a_400(claim, as_user):
    response = as_user(claim.farmer).post(f"/api/v1/claims/{claim.pk}/recording/", {}, format="multipart")

    assert response.status_code == 400
    assert "multipart file 'archive'" in response.json()["archive"][0]


def test_another_farmers_claim_is_a_404_and_a_submitted_claim_a_409(claim, as_user, genuine_video, tmp_path):
    path = archive_for_claim(tmp_path / "a.zip", claim, video=genuine_video)
    data = path.read_bytes()

    assert post(as_user(FarmerFactory()), claim, data).status_code == 404
    assert post(as_user(claim.farmer), claim, data).status_code == 201
    second = post(as_user(claim.farmer), claim, data)
    assert second.status_code == 409 and "already has a submission" in second.json()["detail"]
    assert Recording.objects.count() == 1
