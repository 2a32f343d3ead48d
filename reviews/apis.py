"""Appeals in the API: a farmer appeals a refused or held submission; staff decide."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import GraderOnlyWhereAllowed, IsFarmer, IsStaff
from core.exceptions import NotFound
from pools.access import access_submission

from .models import Appeal
from .services import NOTE_MAX_CHARS, REASON_MAX_CHARS, appeal_create, appeal_decide


class AppealOutputSerializer(serializers.ModelSerializer):
    score_before = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)
    score_after = serializers.DecimalField(max_digits=5, decimal_places=4, allow_null=True)

    class Meta:
        model = Appeal
        fields = [
            "id",
            "submission",
            "note",
            "status",
            "route",
            "was_held",
            "score_before",
            "score_after",
            "decision_reason",
            "created_at",
            "decided_at",
        ]


class SubmissionAppealApi(APIView):
    """GET: the appeal of a submission (its farmer, its factory's creator, staff).
    POST: the farmer appeals (one appeal per submission, within the appeal window)."""

    permission_classes = [IsAuthenticated, GraderOnlyWhereAllowed]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppealInput"

        note = serializers.CharField(max_length=NOTE_MAX_CHARS)

    def get_permissions(self):
        if self.request.method == "POST":
            return [IsAuthenticated(), GraderOnlyWhereAllowed(), IsFarmer()]
        return super().get_permissions()

    @extend_schema(responses=AppealOutputSerializer)
    def get(self, request, pk: int):
        submission = access_submission(request.user, pk)
        appeal = Appeal.objects.filter(submission=submission).first()
        if appeal is None:
            raise NotFound("This submission has no appeal.")
        return Response(AppealOutputSerializer(appeal).data)

    @extend_schema(request=InputSerializer, responses={201: AppealOutputSerializer})
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = appeal_create(farmer=request.user, submission_id=pk, note=data.validated_data["note"])
        return Response(AppealOutputSerializer(appeal).data, status=status.HTTP_201_CREATED)


class AppealDecisionApi(APIView):
    """Staff decide an appeal: a new score (upheld) or none (dismissed, the score is kept)."""

    permission_classes = [IsAuthenticated, IsStaff]

    class InputSerializer(serializers.Serializer):
        class Meta:
            ref_name = "AppealDecisionInput"

        quality_score = serializers.CharField(max_length=16, required=False, allow_blank=True, allow_null=True)
        reason = serializers.CharField(max_length=REASON_MAX_CHARS)

    @extend_schema(request=InputSerializer, responses=AppealOutputSerializer)
    def post(self, request, pk: int):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        appeal = appeal_decide(appeal_id=pk, reviewer=request.user, **data.validated_data)
        return Response(AppealOutputSerializer(appeal).data)
