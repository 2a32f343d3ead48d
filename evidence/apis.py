"""The evidence API (api-contract.md "Recordings"): a recorder archive submitted for a claim,
and resumable uploads of large archives (tus 1.0: evidence/uploads.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import BoundedJSONParser, FailOpenScopedRateThrottle, IsFarmer
from pools.apis.submissions import SubmissionOutputSerializer

from .archive import max_total_bytes
from .intake import recording_submit
from .models import Recording


class RecordingSerializer(serializers.Serializer):
    video_sha256 = serializers.CharField()
    video_size = serializers.IntegerField()
    archive_sha256 = serializers.CharField()
    duration_seconds = serializers.DecimalField(max_digits=9, decimal_places=3)
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    fps = serializers.DecimalField(max_digits=7, decimal_places=3)
    created_at = serializers.DateTimeField()


class RecordingSubmissionSerializer(SubmissionOutputSerializer):
    recording = serializers.SerializerMethodField()

    @extend_schema_field(RecordingSerializer(allow_null=True))
    def get_recording(self, submission) -> dict | None:
        recording = Recording.objects.filter(submission_id=submission.pk).first()
        return RecordingSerializer(recording).data if recording else None


def archive_limit() -> int:
    """The largest archive accepted in one request (what the archive may expand to at most)."""
    return max_total_bytes()


class ClaimRecordingApi(APIView):
    """POST: the farmer submits the desktop recorder's archive for their open claim, as a
    multipart file (`archive`). It is checked, converted into the demonstration and stored with
    its video (docs/recorder-archive.md); the answer is the submission, with its recording."""

    permission_classes = [IsAuthenticated, IsFarmer]
    throttle_classes = [FailOpenScopedRateThrottle]
    throttle_scope = "submissions"
    parser_classes = [MultiPartParser, FormParser, BoundedJSONParser]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ClaimRecordingInput"  # one schema component per endpoint

        archive = serializers.FileField(
            required=False,
            help_text="The recorder's zip: meta.json, input_log.jsonl and recording.mp4 at its root "
            "(or in one folder).",
        )
        final_state = serializers.CharField(
            required=False, allow_blank=True, max_length=10_000, help_text="What the screen shows at the end."
        )
        notes = serializers.CharField(required=False, allow_blank=True, max_length=10_000)

    @extend_schema(
        request={"multipart/form-data": InputSerializer},
        responses={201: RecordingSubmissionSerializer},
    )
    def post(self, request, pk: int):
        limit = archive_limit()
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > limit + 64 * 1024:  # room for the multipart envelope
            raise ValidationError({"archive": [f"The request is over the {limit}-byte limit for an archive."]})
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        archive = values.get("archive")
        if archive is None:
            raise ValidationError({"archive": ["Send the recorder's archive as the multipart file 'archive'."]})
        if archive.size > limit:
            raise ValidationError({"archive": [f"The archive is {archive.size} bytes; the limit is {limit} bytes."]})
        with archive.open("rb") as handle:
            submission = recording_submit(
                claim_id=pk,
                farmer=request.user,
                archive=handle,
                final_state=values.get("final_state") or None,
                notes=values.get("notes") or None,
            )
        return Response(RecordingSubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)
