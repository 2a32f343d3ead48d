"""The evidence app in the admin (evidence/admin.py): recordings, resumable uploads (progress,
chunk count, expiry) and evidence reports (checks with their keyframe thumbnails), read-only
for staff, closed to everyone else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from evidence.models import ArchiveUpload, EvidenceFrame, EvidenceReport, Recording, UploadChunk
from evidence.services import recording_examine
from evidence.uploads import upload_append, upload_create
from tests.evidence.test_recording_examine import submit_archive
from tests.factories import FarmerFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def staff_client(client):
    staff = StaffFactory()
    client.force_login(staff)
    client.staff = staff
    return client


@pytest.fixture
def examined(recordings):
    submission = submit_archive(recordings["frozen"])
    recording_examine(submission_id=submission.pk)
    return submission


def test_a_report_shows_its_checks_with_the_keyframes_they_used(staff_client, examined):
    report = EvidenceReport.objects.get(recording__submission=examined)
    shown = EvidenceFrame.objects.filter(report=report).exclude(thumbnail="").order_by("index").first()
    assert shown is not None

    page = staff_client.get(reverse("admin:evidence_evidencereport_change", args=[report.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    thumbnail = reverse("evidence:thumbnail", args=[examined.pk, shown.index])
    assert f'src="{thumbnail}"' in html  # in the checks table and the keyframes inline
    assert "Video changes" in html and report.section["verdict"] in html
    assert staff_client.get(thumbnail).status_code == 200  # and staff may see it
    listing = staff_client.get(reverse("admin:evidence_evidencereport_changelist")).content.decode()
    assert str(report.cpu_seconds) in listing


def test_a_recording_shows_its_video_and_examination(staff_client, examined):
    recording = Recording.objects.get(submission=examined)
    listing = staff_client.get(reverse("admin:evidence_recording_changelist")).content.decode()
    assert "Examined" in listing and f"{recording.width}×{recording.height}" in listing
    page = staff_client.get(reverse("admin:evidence_recording_change", args=[recording.pk])).content.decode()
    assert recording.video_sha256 in page
    assert reverse("admin:evidence_evidencereport_change", args=[recording.report.pk]) in page


def test_an_upload_shows_its_progress_chunks_and_expiry(staff_client):
    farmer = FarmerFactory()
    upload = upload_create(farmer=farmer, length=10, metadata={"filename": "session.zip"})
    upload_append(farmer=farmer, upload_id=upload.pk, offset=0, chunks=[b"abcd"], length=4)
    upload_append(farmer=farmer, upload_id=upload.pk, offset=4, chunks=[b"ef"], length=2)
    expired = upload_create(farmer=farmer, length=5)
    ArchiveUpload.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(minutes=1))

    listing = staff_client.get(reverse("admin:evidence_archiveupload_changelist")).content.decode()
    assert "6 of 10 bytes (60%)" in listing and "in progress" in listing
    assert "expired (deleted by the next sweep)" in listing
    page = staff_client.get(reverse("admin:evidence_archiveupload_change", args=[upload.pk])).content.decode()
    assert "session.zip" in page
    for chunk in UploadChunk.objects.filter(upload=upload):
        assert chunk.sha256 in page  # the chunks inline, each with its checksum
    assert '<td class="field-chunk_count">2</td>' in listing


@pytest.mark.parametrize("model", [Recording, ArchiveUpload, EvidenceReport])
def test_staff_can_look_but_not_add_change_or_delete(staff_client, model, examined):
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/")
    request.user = staff_client.staff
    row = model.objects.first() or upload_create(farmer=FarmerFactory(), length=3)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, row)
    assert not model_admin.has_delete_permission(request, row)
    assert "delete_selected" not in model_admin.get_actions(request)
    opts = model._meta
    before = model.objects.count()
    delete = staff_client.post(
        reverse(f"admin:{opts.app_label}_{opts.model_name}_delete", args=[row.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403 and model.objects.count() == before


def test_only_staff_reach_the_evidence_admin(client, examined):
    report = EvidenceReport.objects.get()
    client.force_login(examined.farmer)
    response = client.get(reverse("admin:evidence_evidencereport_change", args=[report.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
