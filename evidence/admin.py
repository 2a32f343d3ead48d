"""The evidence app in the admin, read-only: staff look, the workers write.

- Recordings: the stored video of a submission (size, length, picture, codec), its examination
  (the submission's `evidence_status`) and a link to its report.
- Uploads: the resumable archive uploads (evidence/uploads.py) with their progress, chunk count
  and expiry; the chunks inline. Deleting one here would leave its chunk files in storage: the
  beat task `evidence.uploads_expire` deletes them (files first), so the admin does not.
- Evidence reports: the checks with the keyframe thumbnails each used (the submission page's
  table, `templates/evidence/checks.html`, thumbnails served by web/evidence.py to staff), the
  verdict, the hold and its reasons, the examination's CPU cost; the keyframes inline.

Nothing here holds an amount (tests/security/test_audit_trail.py's money list does not apply);
nothing can be added, changed or deleted, so no staff action needs an audit record.
"""

from __future__ import annotations

import json

from django.contrib import admin
from django.db.models import Count
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from core.admin import ReadOnlyAdmin
from pools.grading.evidence import evidence_rows

from .models import ArchiveUpload, EvidenceFrame, EvidenceReport, Recording, UploadChunk


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _thumbnail(submission_id: int, index: int, *, width: int = 160):
    url = reverse("evidence:thumbnail", args=[submission_id, index])
    return format_html(
        '<a href="{}"><img src="{}" width="{}" alt="keyframe {}" loading="lazy"></a>', url, url, width, index
    )


@admin.register(Recording)
class RecordingAdmin(ReadOnlyAdmin):
    list_display = ["id", "submission", "evidence_status", "duration_seconds", "picture", "size_mib", "created_at"]
    list_filter = ["submission__evidence_status"]
    search_fields = ["=submission__id", "=archive_sha256", "=video_sha256"]
    list_select_related = ["submission", "report"]
    fields = [
        "submission",
        "evidence_status",
        "report_link",
        "video",
        "video_size",
        "video_sha256",
        "archive_sha256",
        "duration_seconds",
        "width",
        "height",
        "fps",
        "container",
        "codec",
        "meta_pretty",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description="evidence", ordering="submission__evidence_status")
    def evidence_status(self, recording: Recording) -> str:
        return recording.submission.get_evidence_status_display()

    @admin.display(description="picture")
    def picture(self, recording: Recording) -> str:
        return f"{recording.width}×{recording.height} @ {recording.fps} fps"

    @admin.display(description="size (MiB)", ordering="video_size")
    def size_mib(self, recording: Recording) -> str:
        return f"{recording.video_size / (1 << 20):,.1f}"

    @admin.display(description="report")
    def report_link(self, recording: Recording):
        report = getattr(recording, "report", None)
        if report is None:
            return "not examined yet"
        return format_html(
            '<a href="{}">evidence report {}</a>',
            reverse("admin:evidence_evidencereport_change", args=[report.pk]),
            report.pk,
        )

    @admin.display(description="meta.json")
    def meta_pretty(self, recording: Recording):
        return format_html("<pre>{}</pre>", json.dumps(recording.meta, indent=2, sort_keys=True))


class UploadChunkInline(ReadOnlyInline):
    model = UploadChunk
    fields = ["offset", "size", "sha256"]
    readonly_fields = fields
    ordering = ["offset"]


@admin.register(ArchiveUpload)
class ArchiveUploadAdmin(ReadOnlyAdmin):
    list_display = ["id", "farmer", "state", "progress", "chunk_count", "created_at", "expires_at"]
    list_filter = [("completed_at", admin.EmptyFieldListFilter), ("used_at", admin.EmptyFieldListFilter)]
    search_fields = ["=id", "farmer__username"]
    list_select_related = ["farmer"]
    inlines = [UploadChunkInline]
    fields = [
        "id",
        "farmer",
        "state",
        "progress",
        "chunk_count",
        "length",
        "offset",
        "metadata",
        "created_at",
        "expires_at",
        "completed_at",
        "used_at",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(chunk_total=Count("chunks"))

    @admin.display(description="chunks", ordering="chunk_total")
    def chunk_count(self, upload: ArchiveUpload) -> int:
        return upload.chunk_total

    @admin.display(description="received")
    def progress(self, upload: ArchiveUpload) -> str:
        percent = upload.offset * 100 // upload.length if upload.length else 0
        return f"{upload.offset:,} of {upload.length:,} bytes ({percent}%)"

    @admin.display(description="state")
    def state(self, upload: ArchiveUpload) -> str:
        if upload.used_at:
            return "submitted (deleted by the next sweep)"
        if upload.expires_at <= timezone.now():
            return "expired (deleted by the next sweep)"
        return "complete" if upload.is_complete else "in progress"


class EvidenceFrameInline(ReadOnlyInline):
    model = EvidenceFrame
    fields = ["index", "t", "purpose", "dhash", "thumbnail_image"]
    readonly_fields = fields
    ordering = ["index"]

    @admin.display(description="thumbnail")
    def thumbnail_image(self, frame: EvidenceFrame):
        if not frame.thumbnail:
            return "–"  # only the frames a check names keep a thumbnail
        return _thumbnail(frame.submission_id, frame.index, width=120)


@admin.register(EvidenceReport)
class EvidenceReportAdmin(ReadOnlyAdmin):
    list_display = ["id", "submission_id", "verdict", "held", "cpu_seconds", "examined_at"]
    search_fields = ["=recording__submission__id"]
    list_select_related = ["recording"]
    inlines = [EvidenceFrameInline]
    fields = ["submission_id", "recording_link", "verdict", "held", "reasons", "checks", "cpu_seconds", "examined_at"]
    readonly_fields = fields

    @admin.display(description="submission", ordering="recording__submission_id")
    def submission_id(self, report: EvidenceReport) -> int:
        return report.recording.submission_id

    @admin.display(description="recording")
    def recording_link(self, report: EvidenceReport):
        url = reverse("admin:evidence_recording_change", args=[report.recording_id])
        return format_html('<a href="{}">recording {}</a>', url, report.recording_id)

    @admin.display(description="verdict")
    def verdict(self, report: EvidenceReport) -> str:
        return str(report.section.get("verdict", ""))

    @admin.display(description="held", boolean=True)
    def held(self, report: EvidenceReport) -> bool:
        return bool(report.section.get("hold"))

    @admin.display(description="reasons")
    def reasons(self, report: EvidenceReport):
        items = [str(reason) for reason in report.section.get("reasons") or ()]
        if not items:
            return "–"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((item,) for item in items)))

    @admin.display(description="checks (with the keyframes each used)")
    def checks(self, report: EvidenceReport):
        return render_to_string(
            "evidence/checks.html",
            {"submission": report.recording.submission, "evidence_checks": evidence_rows(report.section)},
        )
