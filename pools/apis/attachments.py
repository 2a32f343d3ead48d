"""A submission's attachments (api-contract.md "Datasets"; the dataset endpoints are datasets/apis.py)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from core.exceptions import NotFound

# ---- Attachments (api-contract.md "Datasets"; the dataset endpoints are datasets/apis.py) ----


class DatasetAttachmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    uploaded = serializers.SerializerMethodField()
    download_url = serializers.SerializerMethodField()

    def get_uploaded(self, attachment) -> bool:
        return attachment.uploaded_at is not None

    def get_download_url(self, attachment) -> str | None:
        if attachment.uploaded_at is None:
            return None
        from django.urls import reverse

        path = reverse(
            "api:submission-attachment", kwargs={"pk": attachment.submission_id, "attachment_id": attachment.pk}
        )
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


def attachment_file_response(attachment):
    from django.http import FileResponse
    from django.utils.text import get_valid_filename

    if attachment.uploaded_at is None or not attachment.file:
        raise NotFound("This attachment has not been uploaded.")
    return FileResponse(
        attachment.file.storage.open(attachment.file.name, "rb"),
        as_attachment=True,
        filename=get_valid_filename(attachment.name.rsplit("/", 1)[-1]) or "attachment",
        content_type=attachment.content_type,
    )


class SubmissionAttachmentApi(APIView):
    """PUT: the submitting farmer uploads a declared attachment (the raw body with the declared
    Content-Type, or multipart with one file). GET: download it (the farmer, the factory's
    owner, staff; others 404)."""

    @extend_schema(
        request={"application/octet-stream": bytes, "multipart/form-data": {"type": "object"}},
        responses=DatasetAttachmentSerializer,
    )
    def put(self, request, pk: int, attachment_id: int):
        from django.core.exceptions import ValidationError

        from ..services.attachments import attachment_for_uploader, attachment_max_bytes, attachment_upload

        attachment = attachment_for_uploader(submission_id=pk, attachment_id=attachment_id, user=request.user)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = attachment_max_bytes()
        if request.content_type.startswith("multipart/form-data"):
            # Room for the multipart envelope; the file's own size is checked exactly below.
            if length > limit + 64 * 1024:
                raise ValidationError({"size": [f"The request is over the {limit}-byte limit."]})
            files = list(request.FILES.values())
            if len(files) != 1:
                raise ValidationError({"file": ["Send exactly one file."]})
            upload = files[0]
            attachment = attachment_upload(
                attachment=attachment, chunks=upload.chunks(), content_type=upload.content_type, length=upload.size
            )
        else:
            if length <= 0:
                raise ValidationError({"size": ["Send the file as the request body, with a Content-Length."]})
            stream = request.stream
            attachment = attachment_upload(
                attachment=attachment,
                chunks=iter(lambda: stream.read(1024 * 1024), b""),
                content_type=request.content_type,
                length=length,
            )
        return Response(DatasetAttachmentSerializer(attachment, context={"request": request}).data)

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk: int, attachment_id: int):
        from ..models import Attachment

        attachment = (
            Attachment.objects.select_related("submission__factory")
            .filter(pk=attachment_id, submission__pk=pk)  # __pk: an id past 64 bits matches nothing
            .first()
        )
        user = request.user
        if attachment is None or not (
            user.is_staff
            or attachment.submission.farmer_id == user.pk
            or attachment.submission.factory.creator_id == user.pk
        ):
            raise NotFound("No such attachment.")
        return attachment_file_response(attachment)
