"""Dataset endpoints: a factory's demonstrations, its exports, an export's status and file
(api-contract.md "Datasets", docs/datasets.md). Owner and staff; everyone else gets a 404."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from pools.access import access_factory
from pools.apis import DatasetAttachmentSerializer
from pools.models import Submission

from .access import access_export


def _dataset_factory(request, pk: int):
    """The factory for its owner and staff; a 404 for everyone else (pools.access)."""
    return access_factory(request.user, pk, need="dataset")


class DatasetDemonstrationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    quality_score = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    score_breakdown = serializers.JSONField()
    flagged = serializers.BooleanField(source="is_flagged")
    review_reasons = serializers.JSONField()
    farmer = serializers.SerializerMethodField()
    farmer_reputation = serializers.DecimalField(max_digits=5, decimal_places=2)
    submitted_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    demonstration = serializers.JSONField()
    attachments = DatasetAttachmentSerializer(many=True)

    def get_farmer(self, submission) -> str:
        """A pseudonym, stable within the factory, never the username."""
        from .selectors import farmer_pseudonym

        return farmer_pseudonym(submission.factory_id, submission.farmer_id)


_DATASET_FILTER_PARAMETERS = [
    OpenApiParameter("min_quality", str, description="Decimal in [0, 1]; scores at or above it."),
    OpenApiParameter("max_quality", str, description="Decimal in [0, 1]; scores at or below it."),
    OpenApiParameter("submitted_from", str, description="Date or ISO 8601 date-time (inclusive)."),
    OpenApiParameter("submitted_to", str, description="Date (inclusive, whole day) or ISO 8601 date-time."),
    OpenApiParameter("min_reputation", str, description="The farmer's current reputation, 0-100."),
    OpenApiParameter("max_reputation", str, description="The farmer's current reputation, 0-100."),
    OpenApiParameter("flagged", bool, description="true: flagged only (needs include=flagged); false: unflagged."),
    OpenApiParameter(
        "include", str, description="rejected and/or flagged (comma-separated): work outside the dataset, opt-in."
    ),
]


class FactoryDemonstrationListApi(ListAPIView):
    """The factory's accepted demonstrations (its dataset), newest first. Owner and staff."""

    serializer_class = DatasetDemonstrationSerializer

    @extend_schema(parameters=_DATASET_FILTER_PARAMETERS)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        from .selectors import dataset_filters_parse, dataset_page_queryset

        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Submission.objects.none()
        factory = _dataset_factory(self.request, self.kwargs["pk"])
        return dataset_page_queryset(factory, dataset_filters_parse(self.request.query_params))


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    factory = serializers.IntegerField(source="factory_id")
    status = serializers.CharField()
    progress = serializers.IntegerField()
    count = serializers.IntegerField()
    include_attachments = serializers.BooleanField()
    filters = serializers.JSONField()
    size = serializers.IntegerField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, export) -> str | None:
        from django.urls import reverse

        from .models import Export

        if export.status != Export.Status.READY:
            return None
        path = reverse("api:export-download", kwargs={"pk": export.pk})
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class FactoryExportListCreateApi(ListAPIView):
    """GET: the factory's exports, newest first. POST: start one (202); the body takes the
    same filters as the demonstrations list, plus `include_attachments`."""

    serializer_class = ExportOutputSerializer

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "ExportCreateInput"  # one schema component per endpoint

        include_attachments = serializers.BooleanField(required=False, default=False)
        min_quality = serializers.CharField(required=False, allow_blank=True, max_length=32)
        max_quality = serializers.CharField(required=False, allow_blank=True, max_length=32)
        submitted_from = serializers.CharField(required=False, allow_blank=True, max_length=40)
        submitted_to = serializers.CharField(required=False, allow_blank=True, max_length=40)
        min_reputation = serializers.CharField(required=False, allow_blank=True, max_length=32)
        max_reputation = serializers.CharField(required=False, allow_blank=True, max_length=32)
        flagged = serializers.BooleanField(required=False, allow_null=True, default=None)
        include = serializers.ListField(
            child=serializers.ChoiceField(choices=["rejected", "flagged"]), required=False, max_length=2
        )

    def get_queryset(self):
        from .models import Export

        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return Export.objects.none()
        factory = _dataset_factory(self.request, self.kwargs["pk"])
        return Export.objects.filter(factory=factory).order_by("-created_at", "-id")

    @extend_schema(request=InputSerializer, responses={202: ExportOutputSerializer})
    def post(self, request, pk: int):
        from .selectors import dataset_filters_parse
        from .services.exports import export_request

        factory = _dataset_factory(request, pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        include_attachments = values.pop("include_attachments")
        flagged = values.pop("flagged")
        params = {name: value for name, value in values.items() if name != "include"}
        params["include"] = ",".join(values.get("include", []))
        if flagged is not None:
            params["flagged"] = "true" if flagged else "false"
        export = export_request(
            factory=factory,
            actor=request.user,
            filters=dataset_filters_parse(params),
            include_attachments=include_attachments,
        )
        return Response(
            ExportOutputSerializer(export, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


def _export_for(request, pk: int):
    return access_export(request.user, pk)


class ExportDetailApi(APIView):
    @extend_schema(responses=ExportOutputSerializer)
    def get(self, request, pk: int):
        return Response(ExportOutputSerializer(_export_for(request, pk), context={"request": request}).data)


def export_file_response(export):
    """The export's file streamed from storage (shared by the API and the dataset page)."""
    from django.http import FileResponse

    from core.exceptions import Conflict

    from .models import Export

    if export.status != Export.Status.READY or not export.file:
        raise Conflict("This export is not ready yet.")
    zipped = export.file.name.endswith(".zip")
    return FileResponse(
        export.file.storage.open(export.file.name, "rb"),
        as_attachment=True,
        filename=export.file.name.rsplit("/", 1)[-1],
        content_type="application/zip" if zipped else "application/x-ndjson",
    )


class ExportDownloadApi(APIView):
    """The export file (JSONL, or a zip with attachments). Owner and staff; others 404."""

    @extend_schema(responses={(200, "application/octet-stream"): bytes})
    def get(self, request, pk: int):
        return export_file_response(_export_for(request, pk))
