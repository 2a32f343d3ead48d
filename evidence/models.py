"""A submission's screen recording: the recorder archive's video, kept as the demonstration's
evidence (docs/recorder-archive.md "Stored with the submission").

One `Recording` per submission that came from a recorder archive with a video. It is written by
`evidence.services.recording_attach` in the submission's own transaction; the evidence grading
(in a worker) reads it. pools knows only `Submission.has_recording` (pools never imports evidence).
"""

from __future__ import annotations

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
