"""The evidence API (api-contract.md "Recordings"): a recorder archive submitted for a claim,
and resumable uploads of large archives (tus 1.0: evidence/uploads.py)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.http import http_date
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import BoundedJSONParser, FailOpenScopedRateThrottle, IsFarmer
from core.exceptions import ApplicationError
from pools.apis.submissions import SubmissionOutputSerializer

from .archive import max_total_bytes
from .intake import recording_submit, recording_submit_upload
from .models import ArchiveUpload, Recording
from .uploads import (
    CHECKSUM_ALGORITHMS,
    TUS_EXTENSIONS,
    TUS_VERSION,
    checksum_parse,
    metadata_parse,
    upload_append,
    upload_create,
    upload_delete,
    upload_for_farmer,
    upload_max_bytes,
)


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
    multipart file (`archive`) or by naming a finished resumable upload (`upload`). It is
    checked, converted into the demonstration and stored with its video
    (docs/recorder-archive.md); the answer is the submission, with its recording."""

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
        upload = serializers.UUIDField(
            required=False, help_text="A finished resumable upload (POST /api/v1/uploads/) holding the archive."
        )

    @extend_schema(
        request={"multipart/form-data": InputSerializer, "application/json": InputSerializer},
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
        texts = {"final_state": values.get("final_state") or None, "notes": values.get("notes") or None}
        if archive is not None and values.get("upload"):
            raise ValidationError({"archive": ["Send the archive or name an upload, not both."]})
        if values.get("upload"):
            submission = recording_submit_upload(claim_id=pk, farmer=request.user, upload_id=values["upload"], **texts)
            return Response(RecordingSubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)
        if archive is None:
            raise ValidationError(
                {"archive": ["Send the recorder's archive as the multipart file 'archive', or name a finished upload."]}
            )
        if archive.size > limit:
            raise ValidationError({"archive": [f"The archive is {archive.size} bytes; the limit is {limit} bytes."]})
        with archive.open("rb") as handle:
            submission = recording_submit(claim_id=pk, farmer=request.user, archive=handle, **texts)
        return Response(RecordingSubmissionSerializer(submission).data, status=status.HTTP_201_CREATED)


# ---- Resumable uploads: tus 1.0 (core, creation, expiration, checksum, termination) --------


class TusVersionMismatch(ApplicationError):
    status = 412


class TusUnsupportedMediaType(ApplicationError):
    status = 415


def _header_int(request, name: str) -> int:
    value = request.headers.get(name)
    if value is None or not value.isdigit() or len(value) > 19:
        raise ValidationError({name: [f"The {name} header must be a non-negative integer."]})
    return int(value)


class _TusApi(APIView):
    """tus headers on every answer; requests (but OPTIONS) must speak tus 1.0.0 (else 412)."""

    permission_classes = [IsAuthenticated, IsFarmer]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
            raise TusVersionMismatch(f"Send the header Tus-Resumable: {TUS_VERSION} (the tus protocol version).")

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Tus-Resumable"] = TUS_VERSION
        if response.status_code == 412:
            response["Tus-Version"] = TUS_VERSION
        return response

    def options(self, request, *args, **kwargs):
        response = Response(status=status.HTTP_204_NO_CONTENT)
        response["Tus-Version"] = TUS_VERSION
        response["Tus-Extension"] = ",".join(TUS_EXTENSIONS)
        response["Tus-Max-Size"] = str(upload_max_bytes())
        response["Tus-Checksum-Algorithm"] = ",".join(CHECKSUM_ALGORITHMS)
        return response


class UploadSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    url = serializers.SerializerMethodField()
    length = serializers.IntegerField()
    offset = serializers.IntegerField()
    complete = serializers.BooleanField(source="is_complete")
    metadata = serializers.DictField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()

    def get_url(self, upload) -> str:
        path = reverse("api:upload", kwargs={"upload_id": upload.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def _upload_headers(response, upload: ArchiveUpload):
    response["Upload-Offset"] = str(upload.offset)
    response["Upload-Length"] = str(upload.length)
    response["Upload-Expires"] = http_date(upload.expires_at.timestamp())
    response["Cache-Control"] = "no-store"
    return response


TUS_REQUIRED = OpenApiParameter("Tus-Resumable", str, OpenApiParameter.HEADER, required=True, enum=[TUS_VERSION])


class UploadCreateApi(_TusApi):
    """POST (tus creation): start a resumable upload of a recorder archive. Headers:
    `Upload-Length` (bytes), `Upload-Metadata` (optional, `filename <base64>`). Answers 201 with
    `Location` (PATCH the bytes there) and `Upload-Expires`; limits per farmer (409, 413)."""

    @extend_schema(
        parameters=[
            TUS_REQUIRED,
            OpenApiParameter("Upload-Length", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Metadata", str, OpenApiParameter.HEADER, required=False),
        ],
        request=None,
        responses={201: UploadSerializer},
    )
    def post(self, request):
        if request.headers.get("Upload-Defer-Length"):
            raise ValidationError({"Upload-Defer-Length": ["Deferred lengths are not supported: send Upload-Length."]})
        upload = upload_create(
            farmer=request.user,
            length=_header_int(request, "Upload-Length"),
            metadata=metadata_parse(request.headers.get("Upload-Metadata")),
        )
        response = Response(UploadSerializer(upload, context={"request": request}).data, status=201)
        response["Location"] = request.build_absolute_uri(reverse("api:upload", kwargs={"upload_id": upload.pk}))
        return _upload_headers(response, upload)


class UploadDetailApi(_TusApi):
    """One resumable upload: HEAD (its offset), GET (the same, as JSON), PATCH (the next bytes,
    `Content-Type: application/offset+octet-stream`, `Upload-Offset`, optional `Upload-Checksum`),
    DELETE (tus termination). Someone else's upload is a 404, an expired or used one 410."""

    @extend_schema(parameters=[TUS_REQUIRED], responses={200: UploadSerializer})
    def get(self, request, upload_id):
        upload = upload_for_farmer(farmer=request.user, upload_id=upload_id)
        return _upload_headers(Response(UploadSerializer(upload, context={"request": request}).data), upload)

    def head(self, request, upload_id):
        upload = upload_for_farmer(farmer=request.user, upload_id=upload_id)
        return _upload_headers(Response(status=200), upload)

    @extend_schema(
        parameters=[
            TUS_REQUIRED,
            OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("Upload-Checksum", str, OpenApiParameter.HEADER, required=False),
        ],
        request={"application/offset+octet-stream": bytes},
        responses={204: OpenApiResponse(description="Stored; Upload-Offset is the new offset.")},
    )
    def patch(self, request, upload_id):
        if request.content_type.split(";")[0].strip().lower() != "application/offset+octet-stream":
            raise TusUnsupportedMediaType("Send the bytes with Content-Type: application/offset+octet-stream.")
        offset = _header_int(request, "Upload-Offset")
        length = (
            int(request.META.get("CONTENT_LENGTH") or 0)
            if str(request.META.get("CONTENT_LENGTH") or "0").isdigit()
            else -1
        )
        if length < 0:
            raise ValidationError({"Content-Length": ["Send the chunk with a Content-Length."]})
        checksum = checksum_parse(request.headers.get("Upload-Checksum"))
        stream = request.stream
        chunks = iter(lambda: stream.read(1024 * 1024), b"") if stream is not None else iter(())
        upload = upload_append(
            farmer=request.user, upload_id=upload_id, offset=offset, chunks=chunks, length=length, checksum=checksum
        )
        return _upload_headers(Response(status=status.HTTP_204_NO_CONTENT), upload)

    @extend_schema(parameters=[TUS_REQUIRED], request=None, responses={204: None})
    def delete(self, request, upload_id):
        upload_delete(farmer=request.user, upload_id=upload_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
