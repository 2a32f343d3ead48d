"""A submission's screen recording: the recorder archive's video, kept as the demonstration's
evidence (docs/recorder-archive.md "Stored with the submission").

One `Recording` per submission that came from a recorder archive with a video. It is written by
`evidence.services.recording_attach` in the submission's own transaction; the evidence grading
(in a worker) reads it. pools knows only `Submission.has_recording` (pools never imports evidence).

Its examination (`evidence.services.recording_examine`, in a worker) writes one `EvidenceReport`
and an `EvidenceFrame` per keyframe looked at (perceptual hash, thumbnail).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


def recording_upload_to(instance: Recording, filename: str) -> str:
    submission = instance.submission
    return f"recordings/{submission.factory_id}/{submission.pk}/{instance.video_sha256}.mp4"


class Recording(models.Model):
    submission = models.OneToOneField("pools.Submission", on_delete=models.PROTECT, related_name="recording")
    # The video (recording.mp4 of the archive) in Django's default storage (S3 in production).
    video = models.FileField(upload_to=recording_upload_to, max_length=255)
    video_sha256 = models.CharField(max_length=64)
    video_size = models.PositiveBigIntegerField()
    # SHA-256 of the whole zip as uploaded (the same archive twice is the same recording).
    archive_sha256 = models.CharField(max_length=64, db_index=True)
    # meta.json as validated by evidence.archive.meta_validate (JSON-ready: times as text).
    meta = models.JSONField(default=dict)
    # The video as FFmpeg probed it (evidence.video.VideoInfo).
    duration_seconds = models.DecimalField(max_digits=9, decimal_places=3)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    fps = models.DecimalField(max_digits=7, decimal_places=3)
    container = models.CharField(max_length=32, blank=True)
    codec = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(width__gt=0, height__gt=0), name="recording_has_size"),
            models.CheckConstraint(condition=models.Q(duration_seconds__gt=0), name="recording_has_duration"),
        ]

    def __str__(self) -> str:
        return f"recording of submission {self.submission_id}"


class EvidenceReport(models.Model):
    """What the evidence task found in a recording (evidence.services.recording_examine): the
    evidence section handed to pools (checks, verdict, hold, keyframes used), kept here with the
    examination's cost. One per recording; written once."""

    recording = models.OneToOneField(Recording, on_delete=models.PROTECT, related_name="report")
    section = models.JSONField()
    examined_at = models.DateTimeField(default=timezone.now)
    # CPU seconds the examination took in its worker (decode, OCR, checks): the cost per
    # recording that bench/evidence.py measures offline, recorded for every real one.
    cpu_seconds = models.DecimalField(max_digits=9, decimal_places=3)

    def __str__(self) -> str:
        return f"evidence of submission {self.recording.submission_id}"


def keyframe_upload_to(instance: EvidenceFrame, filename: str) -> str:
    return f"evidence/{instance.factory_id}/{instance.submission_id}/{instance.index}.jpg"


class EvidenceFrame(models.Model):
    """One keyframe the checks looked at: its time, why it was decoded, its 64-bit difference
    hash, and (for the frames a check names) a small grayscale thumbnail in storage, shown to
    the submission's farmer and the factory's creator.

    The hash is stored whole (`dhash`, signed 64-bit) and as four 16-bit bands, each indexed: two
    hashes within Hamming distance 3 share at least one band (pigeonhole), so the frames of every
    other recording near one of ours are found by four index lookups, across farmers and
    factories (`evidence.selectors.frames_near`)."""

    report = models.ForeignKey(EvidenceReport, on_delete=models.CASCADE, related_name="frames")
    # Denormalised from the recording's submission: who recorded it, for which factory.
    submission = models.ForeignKey("pools.Submission", on_delete=models.PROTECT, related_name="+", db_index=False)
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", db_index=False)
    factory = models.ForeignKey("pools.Factory", on_delete=models.PROTECT, related_name="+", db_index=False)
    index = models.PositiveIntegerField()  # the plan's request index (the section's keyframe "index")
    t = models.DecimalField(max_digits=9, decimal_places=3)
    purpose = models.CharField(max_length=40)
    dhash = models.BigIntegerField()
    band0 = models.IntegerField()
    band1 = models.IntegerField()
    band2 = models.IntegerField()
    band3 = models.IntegerField()
    thumbnail = models.FileField(upload_to=keyframe_upload_to, max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["report", "index"], name="evidence_frame_once")]
        indexes = [models.Index(fields=[f"band{i}"], name=f"evidence_frame_band{i}") for i in range(4)] + [
            models.Index(fields=["submission", "index"], name="evidence_frame_submission")
        ]

    def __str__(self) -> str:
        return f"keyframe {self.index} of submission {self.submission_id}"


def upload_chunk_upload_to(instance: UploadChunk, filename: str) -> str:
    return f"uploads/{instance.upload.farmer_id}/{instance.upload_id}/{instance.offset:015d}"


class ArchiveUpload(models.Model):
    """A resumable upload of a recorder archive (tus 1.0: evidence/uploads.py). Its bytes are the
    chunks, each a file in default storage (S3 has no append); `offset` is how many bytes arrived.
    Unfinished or unused uploads expire (`expires_at`, moved on by each chunk) and the beat task
    `evidence.uploads_expire` deletes them with their chunks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    farmer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    length = models.PositiveBigIntegerField()
    offset = models.PositiveBigIntegerField(default=0)
    # Upload-Metadata, decoded (filename, filetype... as the client sent them).
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Submitted as a claim's recording (then it is deleted by the next sweep).
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["farmer", "expires_at"], name="upload_farmer_active")]
        constraints = [
            models.CheckConstraint(condition=models.Q(offset__lte=models.F("length")), name="upload_offset_in_length"),
            models.CheckConstraint(condition=models.Q(length__gt=0), name="upload_not_empty"),
        ]

    def __str__(self) -> str:
        return f"upload {self.pk} ({self.offset}/{self.length})"

    @property
    def is_complete(self) -> bool:
        return self.offset == self.length


class UploadChunk(models.Model):
    """One PATCH of an upload: `size` bytes at `offset`, stored as one file, with its SHA-256
    (checked again when the archive is put together)."""

    upload = models.ForeignKey(ArchiveUpload, on_delete=models.CASCADE, related_name="chunks")
    offset = models.PositiveBigIntegerField()
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    file = models.FileField(upload_to=upload_chunk_upload_to, max_length=255)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["upload", "offset"], name="upload_chunk_offset_unique")]

    def __str__(self) -> str:
        return f"chunk {self.offset}+{self.size} of {self.upload_id}"
