"""PUT /api/v1/submissions/{id}/attachments/{attachment_id}/: the submitting farmer uploads a
file the demonstration declared. It is stored (through Django's storage API) only when its
content type, size and SHA-256 are the declared ones; any refusal stores nothing."""

from __future__ import annotations

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from pools.models import Attachment
from tests.factories import CreatorFactory, FarmerFactory
from tests.money_helpers import funded_factory
from tests.pools.dataset_support import PNG, WEBM, declared, read_download, submit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"
    return settings.MEDIA_ROOT


def stored_files(media) -> list:
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


@pytest.fixture
def submission(creator, django_capture_on_commit_callbacks):
    factory = funded_factory(creator)
    return submit(
        factory,
        capture=django_capture_on_commit_callbacks,
        attachments=[declared("screen.png", PNG), declared("recording.webm", WEBM, "video/webm")],
    )


def attachment(submission, name="screen.png") -> Attachment:
    return submission.attachments.get(name=name)


def put(client, submission, item, data: bytes, content_type="image/png"):
    return client.generic(
        "PUT", f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/", data, content_type=content_type
    )


def test_the_demonstration_declares_its_attachments_at_submission(submission):
    rows = {row.name: row for row in submission.attachments.all()}

    assert set(rows) == {"screen.png", "recording.webm"}
    assert rows["screen.png"].size == len(PNG) and rows["screen.png"].uploaded_at is None


def test_the_farmer_uploads_the_declared_file_as_the_raw_body(submission, as_user, media):
    item = attachment(submission)

    response = put(as_user(submission.farmer), submission, item, PNG)

    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    assert item.uploaded_at is not None
    assert response.json()["uploaded"] is True and response.json()["sha256"] == item.sha256
    with default_storage.open(item.file.name, "rb") as stored:
        assert stored.read() == PNG
    assert item.file.name.startswith(f"attachments/{submission.factory_id}/{submission.pk}/")


def test_the_farmer_may_upload_as_multipart(submission, as_user):
    item = attachment(submission, "recording.webm")
    upload = SimpleUploadedFile("recording.webm", WEBM, content_type="video/webm")

    response = as_user(submission.farmer).put(
        f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/", {"file": upload}, format="multipart"
    )

    assert response.status_code == 200, response.json()
    item.refresh_from_db()
    with default_storage.open(item.file.name, "rb") as stored:
        assert stored.read() == WEBM


def test_a_file_whose_sha256_differs_is_refused_and_nothing_is_stored(submission, as_user, media):
    item = attachment(submission)
    tampered = PNG[:-1] + b"\x01"  # same size, same type, one byte changed

    response = put(as_user(submission.farmer), submission, item, tampered)

    assert response.status_code == 400
    assert "SHA-256" in response.json()["sha256"][0]
    item.refresh_from_db()
    assert item.uploaded_at is None and not item.file
    assert stored_files(media) == []


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(submission, as_user, media, settings):
    settings.FORGE_ATTACHMENT_MAX_BYTES = len(PNG) - 1
    item = attachment(submission)

    response = put(as_user(submission.farmer), submission, item, PNG)

    assert response.status_code == 400
    assert "limit" in response.json()["size"][0]
    assert stored_files(media) == []
    assert Attachment.objects.get(pk=item.pk).uploaded_at is None


@pytest.mark.parametrize("data", [PNG[:-10], PNG + b"extra"], ids=["shorter", "longer"])
def test_a_file_of_another_size_than_declared_is_refused(submission, as_user, media, data):
    response = put(as_user(submission.farmer), submission, attachment(submission), data)

    assert response.status_code == 400
    assert "declared" in response.json()["size"][0]
    assert stored_files(media) == []


def test_a_file_sent_as_another_type_than_declared_is_refused(submission, as_user, media):
    response = put(as_user(submission.farmer), submission, attachment(submission), PNG, content_type="image/jpeg")

    assert response.status_code == 400
    assert "declared 'image/png'" in response.json()["content_type"][0]
    assert stored_files(media) == []


def test_a_file_whose_bytes_are_not_its_type_is_refused(creator, as_user, media, django_capture_on_commit_callbacks):
    html = b"<html><script>alert(1)</script></html>"
    submission = submit(
        funded_factory(creator), capture=django_capture_on_commit_callbacks, attachments=[declared("x.png", html)]
    )

    response = put(as_user(submission.farmer), submission, attachment(submission, "x.png"), html)

    assert response.status_code == 400
    assert "does not look like image/png" in response.json()["content_type"][0]
    assert stored_files(media) == []


def test_a_type_taken_off_the_allow_list_is_refused(submission, as_user, media, settings):
    settings.FORGE_ATTACHMENT_CONTENT_TYPES = ["video/mp4"]

    response = put(as_user(submission.farmer), submission, attachment(submission), PNG)

    assert response.status_code == 400
    assert "not allowed" in response.json()["content_type"][0]
    assert stored_files(media) == []


def test_an_attachment_is_uploaded_once(submission, as_user):
    client, item = as_user(submission.farmer), attachment(submission)
    assert put(client, submission, item, PNG).status_code == 200

    again = put(client, submission, item, PNG)

    assert again.status_code == 409


def test_an_upload_without_a_body_is_refused(submission, as_user):
    response = put(as_user(submission.farmer), submission, attachment(submission), b"")

    assert response.status_code == 400


@pytest.mark.parametrize("who", ["other_farmer", "creator", "staff"])
def test_only_the_submitting_farmer_uploads(submission, who, creator, staff, as_user, media):
    user = {"other_farmer": FarmerFactory(), "creator": creator, "staff": staff}[who]

    response = put(as_user(user), submission, attachment(submission), PNG)

    assert response.status_code == 404
    assert stored_files(media) == []


def test_an_attachment_of_another_submission_is_404(submission, as_user, creator, django_capture_on_commit_callbacks):
    other = submit(
        funded_factory(creator), capture=django_capture_on_commit_callbacks, attachments=[declared("a.png", PNG)]
    )

    response = put(as_user(submission.farmer), submission, attachment(other, "a.png"), PNG)

    assert response.status_code == 404


@pytest.mark.parametrize("who, status", [("farmer", 200), ("creator", 200), ("staff", 200), ("stranger", 404)])
def test_the_uploaded_file_downloads_for_farmer_owner_and_staff_only(submission, as_user, creator, staff, who, status):
    item = attachment(submission)
    put(as_user(submission.farmer), submission, item, PNG)
    user = {"farmer": submission.farmer, "creator": creator, "staff": staff, "stranger": CreatorFactory()}[who]

    response = as_user(user).get(f"/api/v1/submissions/{submission.pk}/attachments/{item.pk}/")

    assert response.status_code == status
    if status == 200:
        assert read_download(response) == PNG
        assert response["Content-Type"] == "image/png"
        assert "attachment" in response["Content-Disposition"]
