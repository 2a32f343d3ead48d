"""Resumable uploads of recorder archives (tus 1.0 core + creation, expiration, checksum,
termination) at /api/v1/uploads/: chunks at offsets, each stored in Django's storage only when
whole and matching its checksum; per-farmer limits; expiry and the sweep; a finished upload
submitted as a claim's recording."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta

import pytest
from django.utils import timezone

from evidence.models import ArchiveUpload, Recording, UploadChunk
from evidence.tasks import uploads_expire_task
from evidence.uploads import upload_append, upload_create
from pools.models import Claim, Submission
from pools.services.claims import claim_create
from tests.evidence.intake_support import archive_for_claim, claim_meta, video_of
from tests.factories import FarmerFactory
from tests.money_helpers import funded_factory

pytestmark = pytest.mark.django_db

TUS = {"HTTP_TUS_RESUMABLE": "1.0.0"}
OCTETS = "application/offset+octet-stream"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FORGE_GRADER = "manual"
    return settings.MEDIA_ROOT


def stored_files(media) -> list:
    return sorted(path for path in media.rglob("*") if path.is_file()) if media.exists() else []


@pytest.fixture
def claim(creator, farmer):
    return claim_create(factory=funded_factory(creator), farmer=farmer)


@pytest.fixture
def archive(claim, recordings, tmp_path) -> bytes:
    return archive_for_claim(tmp_path / "a.zip", claim, video=video_of(recordings["genuine"])).read_bytes()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def create(client, length: int, **headers):
    headers = {
        "HTTP_UPLOAD_LENGTH": str(length),
        "HTTP_UPLOAD_METADATA": f"filename {b64('rec.zip')}",
        **TUS,
        **headers,
    }
    return client.post("/api/v1/uploads/", **headers)


def patch(client, url: str, data: bytes, offset: int, *, checksum: str | None = None, **headers):
    if checksum is None:
        checksum = "sha256 " + base64.b64encode(hashlib.sha256(data).digest()).decode()
    extra = {"HTTP_UPLOAD_OFFSET": str(offset), **TUS, **headers}
    if checksum:
        extra["HTTP_UPLOAD_CHECKSUM"] = checksum
    return client.generic("PATCH", url, data, content_type=headers.pop("content_type", OCTETS), **extra)


def test_options_advertises_tus_and_its_extensions(as_user, farmer):
    response = as_user(farmer).options("/api/v1/uploads/")

    assert response.status_code == 204
    assert response["Tus-Version"] == "1.0.0" and response["Tus-Resumable"] == "1.0.0"
    assert set(response["Tus-Extension"].split(",")) == {"creation", "expiration", "checksum", "termination"}
    assert "sha256" in response["Tus-Checksum-Algorithm"] and int(response["Tus-Max-Size"]) > 200 * 1024 * 1024


def test_an_archive_uploaded_in_chunks_with_a_resume_becomes_the_claims_recording(claim, as_user, archive, media):
    client = as_user(claim.farmer)
    created = create(client, len(archive))
    assert created.status_code == 201, created.json()
    url = created["Location"]
    assert created["Upload-Expires"] and created.json()["metadata"] == {"filename": "rec.zip"}
    third = len(archive) // 3

    first = patch(client, url, archive[:third], 0)
    assert first.status_code == 204 and first["Upload-Offset"] == str(third)
    # The client lost the answer and sends the same chunk again: 409, the offset to resume at.
    again = patch(client, url, archive[:third], 0)
    assert again.status_code == 409 and f"resume from {third}" in again.json()["detail"]
    head = client.head(url, **TUS)
    assert head.status_code == 200 and head["Upload-Offset"] == str(third) and head["Cache-Control"] == "no-store"
    assert patch(client, url, archive[third : 2 * third], third).status_code == 204
    last = patch(client, url, archive[2 * third :], 2 * third)
    assert last["Upload-Offset"] == str(len(archive))
    upload = ArchiveUpload.objects.get()
    assert upload.completed_at is not None and upload.chunks.count() == 3
    assert len(stored_files(media)) == 3  # one file per chunk, in storage

    response = client.post(
        f"/api/v1/claims/{claim.pk}/recording/", {"upload": str(upload.pk), "final_state": "Budget 2026"}, format="json"
    )

    assert response.status_code == 201, response.json()
    submission = Submission.objects.get(claim=claim)
    recording = Recording.objects.get(submission=submission)
    assert recording.archive_sha256 == hashlib.sha256(archive).hexdigest()
    assert response.json()["recording"]["video_sha256"] == recording.video_sha256
    # Used: the sweep deletes the upload and its chunk files, the recording's video stays.
    assert uploads_expire_task.apply().get() == 1
    assert not ArchiveUpload.objects.exists() and not UploadChunk.objects.exists()
    assert [path.name for path in stored_files(media)] == [recording.video.name.rsplit("/", 1)[-1]]


def test_a_chunk_whose_checksum_does_not_match_is_460_and_not_stored(as_user, farmer, media):
    client = as_user(farmer)
    url = create(client, 10)["Location"]

    response = patch(client, url, b"0123456789", 0, checksum="sha256 " + base64.b64encode(b"\0" * 32).decode())

    assert response.status_code == 460 and "nothing was stored" in response.json()["detail"]
    assert ArchiveUpload.objects.get().offset == 0 and stored_files(media) == []


def test_a_sha1_checksum_is_accepted_too(as_user, farmer):
    client = as_user(farmer)
    url = create(client, 4)["Location"]

    response = patch(
        client, url, b"abcd", 0, checksum="sha1 " + base64.b64encode(hashlib.sha1(b"abcd").digest()).decode()
    )

    assert response.status_code == 204 and response["Upload-Offset"] == "4"


def test_a_body_cut_short_stores_nothing_and_the_upload_resumes(farmer, media):
    upload = upload_create(farmer=farmer, length=10)

    with pytest.raises(Exception) as caught:
        upload_append(farmer=farmer, upload_id=upload.pk, offset=0, chunks=iter([b"01234"]), length=10)
    assert "5 of 10 bytes arrived" in str(caught.value)

    def broken():
        yield b"012"
        raise OSError("connection reset by peer")

    with pytest.raises(OSError):
        upload_append(farmer=farmer, upload_id=upload.pk, offset=0, chunks=broken(), length=10)
    assert ArchiveUpload.objects.get().offset == 0 and stored_files(media) == []
    upload_append(farmer=farmer, upload_id=upload.pk, offset=0, chunks=iter([b"0123456789"]), length=10)
    assert ArchiveUpload.objects.get().offset == 10


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"content_type": "application/json"}, 415, "application/offset+octet-stream"),
        ({"HTTP_TUS_RESUMABLE": "0.2.2"}, 412, "Tus-Resumable: 1.0.0"),
        ({"HTTP_UPLOAD_OFFSET": "x"}, 400, "non-negative integer"),
        ({"HTTP_UPLOAD_CHECKSUM": "crc32 AAAA"}, 400, "Unsupported algorithm"),
    ],
)
def test_bad_patches_are_refused_clearly(as_user, farmer, media, kwargs, status, words):
    client = as_user(farmer)
    url = create(client, 10)["Location"]
    content_type = kwargs.pop("content_type", OCTETS)
    extra = {"HTTP_UPLOAD_OFFSET": "0", **TUS, **kwargs}

    response = client.generic("PATCH", url, b"0123456789", content_type=content_type, **extra)

    assert response.status_code == status
    assert words in str(response.json())
    assert ArchiveUpload.objects.get().offset == 0 and stored_files(media) == []
    if status == 412:
        assert response["Tus-Version"] == "1.0.0"


def test_more_bytes_than_the_upload_holds_are_refused(as_user, farmer):
    client = as_user(farmer)
    url = create(client, 4)["Location"]

    response = patch(client, url, b"0123456789", 0)

    assert response.status_code == 400 and "pass the upload's length" in response.json()["Content-Length"][0]


def test_limits_per_farmer(as_user, farmer, settings):
    settings.FORGE_UPLOAD_MAX_CONCURRENT = 2
    settings.FORGE_UPLOAD_MAX_BYTES_PER_FARMER = 1000
    client = as_user(farmer)

    assert create(client, 400).status_code == 201
    over_bytes = create(client, 700)
    assert over_bytes.status_code == 413 and "limit of 1000 bytes" in over_bytes.json()["detail"]
    assert create(client, 400).status_code == 201
    third = create(client, 10)
    assert third.status_code == 409 and "2 unfinished uploads" in third.json()["detail"]
    # Another farmer has their own allowance.
    assert create(as_user(FarmerFactory()), 400).status_code == 201
    # Deleting one (tus termination) makes room.
    upload = ArchiveUpload.objects.filter(farmer=farmer).first()
    assert client.delete(f"/api/v1/uploads/{upload.pk}/", **TUS).status_code == 204
    assert create(client, 10).status_code == 201


def test_an_upload_over_the_archive_limit_is_413(as_user, farmer):
    response = create(as_user(farmer), 10 * 1024**4)

    assert response.status_code == 413 and "the limit is" in response.json()["detail"]


def test_missing_or_bad_headers_on_creation_are_400(as_user, farmer):
    client = as_user(farmer)

    assert client.post("/api/v1/uploads/", **TUS).status_code == 400
    bad_metadata = create(client, 10, HTTP_UPLOAD_METADATA="filename ***")
    assert bad_metadata.status_code == 400 and "base64" in bad_metadata.json()["Upload-Metadata"][0]
    assert not ArchiveUpload.objects.exists()


def test_someone_elses_upload_is_404_everywhere(as_user, farmer, claim, archive):
    owner = as_user(farmer)
    url = create(owner, len(archive))["Location"]
    patch(owner, url, archive, 0)
    upload = ArchiveUpload.objects.get()
    stranger = as_user(FarmerFactory())

    assert stranger.head(url, **TUS).status_code == 404
    assert stranger.get(url, **TUS).status_code == 404
    assert patch(stranger, url, b"x", len(archive)).status_code == 404
    assert stranger.delete(url, **TUS).status_code == 404
    assert ArchiveUpload.objects.filter(pk=upload.pk, used_at__isnull=True).exists()


def test_an_expired_upload_is_gone_and_the_sweep_deletes_it_with_its_chunks(as_user, farmer, media):
    client = as_user(farmer)
    url = create(client, 10)["Location"]
    patch(client, url, b"01234", 0)
    assert len(stored_files(media)) == 1
    ArchiveUpload.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = patch(client, url, b"56789", 5)

    assert response.status_code == 410 and "expired" in response.json()["detail"]
    assert uploads_expire_task.apply().get() == 1
    assert not ArchiveUpload.objects.exists() and stored_files(media) == []
    assert client.head(url, **TUS).status_code == 404


def test_each_chunk_moves_the_expiry_on(as_user, farmer):
    client = as_user(farmer)
    url = create(client, 10)["Location"]
    ArchiveUpload.objects.update(expires_at=timezone.now() + timedelta(minutes=1))

    patch(client, url, b"01234", 0)

    assert ArchiveUpload.objects.get().expires_at > timezone.now() + timedelta(hours=23)


def test_an_unfinished_upload_cannot_be_submitted(claim, as_user, archive):
    client = as_user(claim.farmer)
    url = create(client, len(archive))["Location"]
    patch(client, url, archive[:100], 0)
    upload = ArchiveUpload.objects.get()

    response = client.post(f"/api/v1/claims/{claim.pk}/recording/", {"upload": str(upload.pk)}, format="json")

    assert response.status_code == 409 and f"100 of {len(archive)} bytes" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_a_refused_archive_from_an_upload_gives_the_upload_back(claim, as_user, recordings, tmp_path, media):
    meta_data = claim_meta(claim)
    meta_data["quest"]["pool_id"] = "factory-999999"
    data = archive_for_claim(tmp_path / "b.zip", claim, video=video_of(recordings["genuine"]), meta_data=meta_data)
    data = data.read_bytes()
    client = as_user(claim.farmer)
    url = create(client, len(data))["Location"]
    patch(client, url, data, 0)
    upload = ArchiveUpload.objects.get()

    response = client.post(f"/api/v1/claims/{claim.pk}/recording/", {"upload": str(upload.pk)}, format="json")

    assert response.status_code == 400 and "meta.quest.pool_id" in response.json()
    assert ArchiveUpload.objects.get().used_at is None
    assert not Recording.objects.exists() and Claim.objects.get(pk=claim.pk).status == Claim.Status.OPEN


def test_another_farmers_upload_cannot_be_submitted(claim, as_user, archive):
    other = FarmerFactory()
    other_client = as_user(other)
    url = create(other_client, len(archive))["Location"]
    patch(other_client, url, archive, 0)
    upload = ArchiveUpload.objects.get()

    response = as_user(claim.farmer).post(
        f"/api/v1/claims/{claim.pk}/recording/", {"upload": str(upload.pk)}, format="json"
    )

    assert response.status_code == 404
    assert not Submission.objects.exists()


def test_a_large_chunk_and_the_archive_it_makes_are_never_held_in_memory(farmer, settings, media):
    import tracemalloc

    from evidence.uploads import archive_from_upload

    settings.FORGE_UPLOAD_CHUNK_MAX_BYTES = 64 * 1024 * 1024
    size = 48 * 1024 * 1024
    piece = b"\x5a" * (1024 * 1024)
    upload = upload_create(farmer=farmer, length=size)

    tracemalloc.start()
    try:
        upload = upload_append(
            farmer=farmer, upload_id=upload.pk, offset=0, chunks=(piece for _ in range(48)), length=size
        )
        with archive_from_upload(upload) as archive:
            total = sum(len(block) for block in iter(lambda: archive.read(1024 * 1024), b""))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert total == size and upload.is_complete
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes for a {size}-byte upload"
